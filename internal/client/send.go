package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// Send is Do with request headers (If-Match, say) that also returns the answer's
// headers (its ETag): it sends in (when not nil) as JSON and returns the body and
// headers of an answer below 400; otherwise an *Error, or *Unreachable when wharfd could
// not be reached.
func (c *Client) Send(ctx context.Context, method, path string, header http.Header, in any) (json.RawMessage, http.Header, error) {
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, err
		}
		body = bytes.NewReader(b)
		h.Set("Content-Type", "application/json")
	}
	resp, err := c.request(ctx, method, path, h, body)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, c.streamErr(ctx, err)
	}
	return b, resp.Header, nil
}

// Code is the API's error code of err (not_found, conflict, ...), or "" when err is
// not an *Error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
