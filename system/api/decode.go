package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/real-estate-os/reos/system"
)

// MaxBodyBytes is the largest request body the API reads.
const MaxBodyBytes = 1 << 20

// decodeJSON reads r's body into v. It refuses, as a client error and before
// anything is written: a media type other than JSON (415), a body over
// MaxBodyBytes (413), invalid UTF-8, malformed JSON, unknown fields, wrong
// types, and anything after the JSON value (400).
func decodeJSON(r *http.Request, v any) error {
	if err := checkJSONMediaType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return system.Errorf(system.EINVALID, "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return system.Errorf(system.ETOOLARGE, "the request body is over %d bytes", MaxBodyBytes)
	}
	return DecodeJSONBody(body, v)
}

// DecodeJSONBody decodes one JSON value from body into v, strictly.
func DecodeJSONBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return system.Errorf(system.EINVALID, "the request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return system.Errorf(system.EINVALID, "the request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return system.Errorf(system.EINVALID, "the request body holds more than one JSON value")
	}
	if bad := badStrings(v); len(bad) > 0 { // "\u0000" decodes to a NUL
		return system.Invalid(bad)
	}
	return nil
}

func jsonError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return system.Errorf(system.EINVALID, "malformed JSON at byte %d", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return system.Errorf(system.EINVALID, "malformed JSON: the body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return system.Errorf(system.EINVALID, "the request body must be a JSON object")
		}
		return system.Invalid(map[string]string{field: fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return system.Invalid(map[string]string{name: "unknown field"})
	}
	return system.Errorf(system.EINVALID, "the request body is not acceptable JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int32", "int64", "uint", "uint64":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "another type"
}

func checkJSONMediaType(ct string) error {
	if ct == "" {
		return system.Errorf(system.EUNSUPPORTED, "send Content-Type: application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return system.Errorf(system.EUNSUPPORTED, "the Content-Type header is malformed")
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return system.Errorf(system.EUNSUPPORTED, "%s is not accepted; send application/json", mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return system.Errorf(system.EUNSUPPORTED, "charset %s is not accepted; send UTF-8", cs)
	}
	return nil
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
