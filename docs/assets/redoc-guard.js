/*
 * Keeps the API reference page from loading images from any other origin.
 *
 * Redoc 2.5.2 (and the Redoc of `redocly build-docs`) renders an "API docs by Redocly" footer
 * whose <img> loads https://cdn.redoc.ly/redoc/logo-mini.svg, and no option turns it off. The
 * page must make no request beyond the host that serves it, so this script, which runs before
 * Redoc, rewrites an off-origin http(s) source of an <img> to the empty data: URL before the
 * browser sees it. The image then fails to decode and Redoc drops it (its onError handler).
 * The page's Content-Security-Policy (img-src 'self' data:) would block the request too, but
 * only after the browser tried it; this keeps the browser from trying.
 *
 * Covers sources set through setAttribute (what React does) and the src property. An image in
 * HTML that Redoc inserts as markup (a Markdown image in a description) is not covered: the
 * Content-Security-Policy blocks it, and the browser test reports it.
 */
(function () {
  'use strict';
  var here = window.location.origin;

  function offOrigin(value) {
    var u;
    try {
      u = new URL(String(value), document.baseURI);
    } catch (e) {
      return false;
    }
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin !== here;
  }

  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === 'src' && offOrigin(value)) {
      value = 'data:,';
    }
    return setAttribute.call(this, name, value);
  };

  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src');
  if (src && src.set && src.configurable) {
    Object.defineProperty(HTMLImageElement.prototype, 'src', {
      configurable: true,
      enumerable: src.enumerable,
      get: src.get,
      set: function (value) {
        src.set.call(this, offOrigin(value) ? 'data:,' : value);
      }
    });
  }
})();
