package client

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"
)

// Dial opens a WebSocket at path (an exec session) with the token. A refusal before
// the upgrade is an *Error, as any request's.
func (c *Client) Dial(ctx context.Context, path string) (*websocket.Conn, error) {
	u := c.Addr + path
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	h := http.Header{}
	if c.Token != "" {
		h.Set("Authorization", "Bearer "+c.Token)
	}
	if c.UserAgent != "" {
		h.Set("User-Agent", c.UserAgent)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 {
			defer resp.Body.Close()
			return nil, readError(resp)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil {
			defer resp.Body.Close()
			return nil, &Error{Status: resp.StatusCode, Code: "internal", Detail: "the server did not accept the WebSocket (" + resp.Status + ")"}
		}
		return nil, &Unreachable{Addr: c.Addr, Err: err}
	}
	return conn, nil
}
