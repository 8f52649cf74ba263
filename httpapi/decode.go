package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// decodeJSON reads the body of r into dst, a pointer to a struct. The body
// must be a single JSON object of known fields, at most s.maxBody bytes,
// with a JSON Content-Type or none. On failure it answers the client and
// returns false.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSONMediaType(ct) {
		s.writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
		return false
	}
	if r.Body == nil {
		s.writeError(w, http.StatusBadRequest, "invalid_json", "the request body is empty; a JSON object is expected")
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("the request body exceeds %d bytes", s.maxBody))
			return false
		}
		s.writeError(w, http.StatusBadRequest, "invalid_json", "the request body could not be read")
		return false
	}
	data = trimJSONSpace(data)
	switch {
	case len(data) == 0:
		s.writeError(w, http.StatusBadRequest, "invalid_json", "the request body is empty; a JSON object is expected")
		return false
	case data[0] != '{':
		s.writeError(w, http.StatusBadRequest, "invalid_json", "the request body must be a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		code, msg := jsonErrorMessage(err)
		s.writeError(w, http.StatusBadRequest, code, msg)
		return false
	}
	if rest := data[dec.InputOffset():]; len(trimJSONSpace(rest)) != 0 {
		s.writeError(w, http.StatusBadRequest, "invalid_json", "the request body must hold a single JSON value; data follows it")
		return false
	}
	return true
}

// jsonErrorMessage describes a decoding error for the client.
func jsonErrorMessage(err error) (code, msg string) {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return "invalid_json", fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, truncate(se.Error(), 128))
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := te.Field
		if field == "" {
			field = "body"
		}
		return "invalid_json", fmt.Sprintf("field %q must be %s", truncate(field, 64), jsonKind(te.Type))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "invalid_json", "malformed JSON: the body ends too early"
	}
	// encoding/json reports an unknown field only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if uq, err := strconv.Unquote(name); err == nil {
			name = uq
		}
		return "unknown_field", fmt.Sprintf("unknown field %q", truncate(name, 64))
	}
	return "invalid_json", "malformed JSON"
}

// jsonKind names the JSON kind a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		if t.String() == "time.Time" {
			return "an RFC 3339 time"
		}
		return "an object"
	}
	return "of another type"
}

// trimJSONSpace trims the whitespace JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	return bytes.Trim(b, " \t\r\n")
}

// isJSONMediaType reports whether ct is application/json or a +json type,
// with no charset or utf-8.
func isJSONMediaType(ct string) bool {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return true
}

// parseIfMatch returns the version of an If-Match header: 0 when there is
// none or it is "*" (any version), else the n of a single strong entity
// tag "n". Weak tags, lists and anything else are an error.
func parseIfMatch(h http.Header) (int64, error) {
	vals := h.Values("If-Match")
	switch len(vals) {
	case 0:
		return 0, nil
	case 1:
	default:
		return 0, errors.New("If-Match must hold a single entity tag")
	}
	v := strings.TrimSpace(vals[0])
	if v == "*" {
		return 0, nil
	}
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' {
		return 0, errors.New(`If-Match must be a strong entity tag such as "3"`)
	}
	n, ok := parseDigits(v[1:len(v)-1], 1, 1<<63-1)
	if !ok {
		return 0, errors.New(`If-Match must be a strong entity tag such as "3"`)
	}
	return n, nil
}

// etag returns the entity tag of a file version.
func etag(version int64) string {
	return `"` + strconv.FormatInt(version, 10) + `"`
}

// parseDigits parses s, only ASCII digits, as a number between lo and hi.
func parseDigits(s string, lo, hi int64) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}
