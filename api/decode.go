package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// bindJSON decodes the request body into v strictly: the body must be one JSON value of
// v's shape, with no field v does not know. The body limit middleware has already capped
// its size.
func bindJSON(c echo.Context, v any) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return echo.NewHTTPError(415, "the request body must be application/json")
		}
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return platform.Wrap(platform.Invalid, err, "the request body could not be read")
	}
	return decodeBody(b, v)
}

// decodeBody decodes b into v strictly (see bindJSON), translating the decoder's errors
// into field errors a client can act on.
func decodeBody(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return platform.Errorf(platform.Invalid, "malformed JSON: the body holds more than one JSON value")
		}
		return exactFields(b, v)
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var fe platform.FieldErrors
	switch {
	case errors.Is(err, io.EOF):
		return platform.Errorf(platform.Invalid, "the request body is empty; it must be a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return platform.Errorf(platform.Invalid, "malformed JSON: the body ends in the middle of a value")
	case errors.As(err, &syn):
		return platform.Errorf(platform.Invalid, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			fe.Add("(body)", "must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		} else {
			fe.Add(field, "must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fe.Err()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		fe.Add(name, "is not a field of this resource")
		return fe.Err()
	}
	return platform.Wrap(platform.Invalid, err, fmt.Sprintf("the request body could not be decoded: %v", err))
}

// exactFields refuses a field whose name matches one of v's only when case is ignored,
// as encoding/json matches them: {"NAME": ...} is not {"name": ...}. It compares the
// body's object keys, level by level, with those of v encoded again.
func exactFields(b []byte, v any) error {
	var body, canon any
	if json.Unmarshal(b, &body) != nil {
		return nil
	}
	again, err := json.Marshal(v)
	if err != nil || json.Unmarshal(again, &canon) != nil {
		return nil
	}
	if field := extraKey(body, canon, ""); field != "" {
		var fe platform.FieldErrors
		fe.Add(field, "is not a field of this resource (field names are case-sensitive)")
		return fe.Err()
	}
	return nil
}

// extraKey returns the path of the first key of body that canon lacks, or "".
func extraKey(body, canon any, path string) string {
	switch b := body.(type) {
	case map[string]any:
		c, ok := canon.(map[string]any)
		if !ok {
			return ""
		}
		for _, k := range sortedKeys(b) {
			field := k
			if path != "" {
				field = path + "." + k
			}
			cv, ok := c[k]
			if !ok {
				return field
			}
			if f := extraKey(b[k], cv, field); f != "" {
				return f
			}
		}
	case []any:
		c, ok := canon.([]any)
		if !ok || len(c) != len(b) {
			return ""
		}
		for i := range b {
			if f := extraKey(b[i], c[i], fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonKind names a Go kind as JSON does.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "bool":
		return "boolean"
	case kind == "map", kind == "struct":
		return "object"
	case kind == "slice", kind == "array":
		return "array"
	}
	return kind
}
