package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// forwardingHeaders are the request headers echo's default scheme extractor
// (echo.ExtractSchemeFromHeaders) reads, in net/http's canonical form, the form in which
// net/http's server stores a request's header names.
var forwardingHeaders = [...]string{
	echo.HeaderXForwardedProto, echo.HeaderXForwardedProtocol, echo.HeaderXForwardedSsl, echo.HeaderXUrlScheme,
}

// schemeExtractor answers what echo's default extractor answers (the scheme a trusted proxy's
// forwarding header names, else the connection's), deciding without it when the request carries
// none of the headers, as a client that is not behind a proxy sends: then only the connection
// counts. echo's extractor parses the peer's address to decide whether to trust the headers, and
// reads each of them through the header map's canonicalizing lookup, even when none is there;
// that was ~3,500 instructions of a ~108,000-instruction GET under load (bench/RESULTS.md, the
// speed-only table). TestSchemeExtractorIsEchos holds the two to the same answers.
func schemeExtractor(fromHeaders echo.SchemeExtractor) echo.SchemeExtractor {
	return func(req *http.Request) string {
		for _, name := range forwardingHeaders {
			if _, ok := req.Header[name]; ok {
				return fromHeaders(req)
			}
		}
		if req.TLS != nil {
			return "https"
		}
		return "http"
	}
}
