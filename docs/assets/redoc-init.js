/*
 * Renders the API reference into #redoc with Redoc 2.5.2 (window.Redoc, from
 * redoc.standalone.js). The handler of package docs serves redoc-guard.js and this file as one
 * script, /docs/redoc-init.js, so the guard is in place before Redoc renders anything.
 *
 * The contract comes from the URL in the element's data-spec-url attribute (/openapi.json).
 * When Redoc has loaded it, <html> gets data-redoc="ready" (or data-redoc="error").
 */
(function () {
  'use strict';
  var root = document.getElementById('redoc');
  var specURL = root.getAttribute('data-spec-url') || '/openapi.json';
  // Redoc's default fonts are Roboto and Montserrat, which a page would fetch from a font CDN; use
  // the fonts the system has.
  var sans = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
  var mono = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';

  window.Redoc.init(specURL, {
    // Show the 200 and 400 responses open, so the error envelope (ODataError) is in view.
    expandResponses: '200,400',
    // Open nested objects (error.innerError) of the schemas and the samples.
    schemaExpansionLevel: 3,
    jsonSampleExpandLevel: 3,
    pathInMiddlePanel: true,
    // No extension is shown: the permissions each operation needs are written into its
    // description from x-graph-permissions when the served document is generated.
    showExtensions: false,
    theme: {
      typography: {
        fontFamily: sans,
        headings: { fontFamily: sans },
        code: { fontFamily: mono }
      }
    }
  }, root, function (err) {
    document.documentElement.setAttribute('data-redoc', err ? 'error' : 'ready');
  });
})();
