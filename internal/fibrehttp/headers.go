package fibrehttp

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	"fibremon"
)

// singletonHeaders are the request headers that may appear at most once:
// with two, the token checked or the media type decoded would depend on
// which one a proxy or this server reads first (RFC 9110: neither is a
// list).
var singletonHeaders = []string{"Authorization", "Content-Type"}

// refuseRepeatedHeaders answers 400 naming the header to a request that
// repeats one of singletonHeaders, before any handler sees it.
func (s *Server) refuseRepeatedHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range singletonHeaders {
			if len(r.Header.Values(h)) > 1 {
				s.handle(func(http.ResponseWriter, *http.Request) error {
					return fibremon.FieldErrorf(h, "header given %d times; send it once", len(r.Header.Values(h)))
				})(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// mediaError refuses a body the service cannot read as sent: 415.
type mediaError struct {
	header, msg string
}

func (e *mediaError) Error() string { return e.header + ": " + e.msg }

// checkJSONBody checks that the headers of a request describe a body the
// service reads: a Content-Type of application/json (compared as a media
// type: case-insensitive, parameters allowed, charset UTF-8 if given;
// absent is taken as JSON) and no Content-Encoding but identity. The body
// itself is read only after this check.
func checkJSONBody(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			return &mediaError{"Content-Type", "malformed media type " + quote(ct) + "; want application/json"}
		}
		if mt != "application/json" {
			return &mediaError{"Content-Type", "media type " + quote(mt) + "; want application/json"}
		}
		for k, v := range params {
			if k != "charset" || !strings.EqualFold(v, "utf-8") {
				return &mediaError{"Content-Type", "parameter " + quote(k+"="+v) + "; want none, or charset=utf-8"}
			}
		}
	}
	for _, v := range r.Header.Values("Content-Encoding") {
		for _, enc := range strings.Split(v, ",") {
			if enc = strings.TrimSpace(enc); enc != "" && !strings.EqualFold(enc, "identity") {
				return &mediaError{"Content-Encoding", "content coding " + quote(enc) + " not supported; send the body as is"}
			}
		}
	}
	return nil
}

// quote quotes a client's text for an error message, at most 80 runes of it.
func quote(s string) string { return fmt.Sprintf("%.80q", s) }
