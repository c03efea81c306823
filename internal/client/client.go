// Package client speaks wharfd's HTTP API (/v1) for the wharf CLI: requests with a
// Bearer token, problem+json errors as *Error, lists followed across pages, a deploy's
// server-sent events and an environment's log stream. It imports nothing of the server
// (no api/, no platform/) and no SDK: the wire format is its only contract.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Client is a connection to one wharfd. The zero HTTP field uses http.DefaultClient.
type Client struct {
	Addr      string // http://host:port, no trailing slash
	Token     string
	UserAgent string
	HTTP      *http.Client
}

// Error is what the API answered when a request failed: its problem+json document, or
// what could be made of a body that was not one.
type Error struct {
	Status    int          `json:"status"`
	Code      string       `json:"code"`
	Title     string       `json:"title"`
	Detail    string       `json:"detail"`
	RequestID string       `json:"request_id"`
	Fields    []FieldError `json:"errors"`
}

// FieldError says what is wrong with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is one readable line: the detail, each field's complaint and the request id.
func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	if msg == "" {
		msg = fmt.Sprintf("wharfd answered %d %s", e.Status, http.StatusText(e.Status))
	}
	// The field errors the detail does not already tell.
	var parts []string
	for _, f := range e.Fields {
		if !strings.Contains(msg, f.Message) {
			parts = append(parts, f.Field+" "+f.Message)
		}
	}
	if len(parts) > 0 {
		msg = strings.TrimSuffix(msg, ".") + ": " + strings.Join(parts, "; ")
	}
	if e.RequestID != "" {
		msg += " (request " + e.RequestID + ")"
	}
	return msg
}

// Unreachable is returned when wharfd could not be reached at all.
type Unreachable struct {
	Addr string
	Err  error
}

func (e *Unreachable) Error() string {
	return fmt.Sprintf("cannot reach wharfd at %s: %v", e.Addr, e.Err)
}

func (e *Unreachable) Unwrap() error { return e.Err }

// Path joins escaped path segments under /v1.
func Path(segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// Request sends a request with an optional body of the given content type and returns
// the response when its status is below 400; otherwise it returns an *Error. The caller
// closes the body.
func (c *Client) Request(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return c.request(ctx, method, path, h, body)
}

// request is Request with any request headers.
func (c *Client) request(ctx context.Context, method, path string, header http.Header, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Addr+path, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Unreachable{Addr: c.Addr, Err: errors.Unwrap(err)}
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

// readError makes an *Error of a failed response.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &Error{Status: resp.StatusCode}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" || mt == "application/json" {
		_ = json.Unmarshal(b, e)
		e.Status = resp.StatusCode
	} else if s := strings.TrimSpace(string(b)); s != "" && len(s) < 200 && !strings.Contains(s, "\n") {
		e.Detail = s
	}
	if e.Code == "" {
		e.Code = codeOf(resp.StatusCode)
	}
	return e
}

// codeOf is the API's error code for a status, for answers that carried none (a proxy
// in front of wharfd, say).
func codeOf(status int) string {
	switch status {
	case 401:
		return "unauthorized"
	case 403:
		return "forbidden"
	case 404:
		return "not_found"
	case 409, 412:
		return "conflict"
	case 422:
		return "limit_exceeded"
	case 502, 503, 504:
		return "unavailable"
	}
	if status < 500 {
		return "invalid"
	}
	return "internal"
}

// Do sends in (when not nil) as JSON and returns the answer's body, which the caller may
// decode into its own types or print as it is.
func (c *Client) Do(ctx context.Context, method, path string, in any) (json.RawMessage, error) {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.Request(ctx, method, path, ct, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, c.streamErr(ctx, err)
	}
	return b, nil
}

// Get decodes the answer to GET path into out and returns it as it came.
func (c *Client) Get(ctx context.Context, path string, out any) (json.RawMessage, error) {
	raw, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("GET %s: unexpected answer: %w", path, err)
		}
	}
	return raw, nil
}

// List reads every page of the list at path and returns its items as they came.
func (c *Client) List(ctx context.Context, path string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	cursor := ""
	for {
		p := path + "?limit=500"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next_cursor"`
		}
		if _, err := c.Get(ctx, p, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" || page.Next == cursor {
			return all, nil
		}
		cursor = page.Next
	}
}

// streamErr says why reading an answer stopped: the caller's context, or the connection.
func (c *Client) streamErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &Unreachable{Addr: c.Addr, Err: err}
}

// Event is one server-sent event.
type Event struct {
	Name string
	Data []byte
}

// Events reads the server-sent events at path and calls fn with each, until the stream
// ends, fn returns false or ctx is done (then it returns ctx's error).
func (c *Client) Events(ctx context.Context, path string, fn func(Event) bool) error {
	resp, err := c.Request(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return readEvents(resp.Body, fn, func(err error) error { return c.streamErr(ctx, err) })
}

// readEvents parses text/event-stream from r.
func readEvents(r io.Reader, fn func(Event) bool, fail func(error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var ev Event
	var data [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if len(data) > 0 || ev.Name != "" {
				ev.Data = bytes.Join(data, []byte("\n"))
				if !fn(ev) {
					return nil
				}
			}
			ev, data = Event{}, nil
		case line[0] == ':':
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				ev.Name = string(value)
			case "data":
				data = append(data, append([]byte(nil), value...))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fail(err)
	}
	return nil
}

// Lines reads the newline-delimited JSON at path and calls fn with each line, until the
// stream ends or ctx is done (then it returns ctx's error).
func (c *Client) Lines(ctx context.Context, path string, fn func(json.RawMessage) error) error {
	resp, err := c.Request(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(append(json.RawMessage(nil), sc.Bytes()...)); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return c.streamErr(ctx, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}
