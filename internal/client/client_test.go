package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadEvents(t *testing.T) {
	stream := ": a comment\n\nevent: progress\ndata: {\"a\":1}\n\nevent: progress\ndata: line one\ndata: line two\n\nid: 7\ndata:no space\n\nevent: done\ndata: {}\n\nevent: after\ndata: x\n\n"
	var got []string
	err := readEvents(strings.NewReader(stream), func(ev Event) bool {
		got = append(got, ev.Name+"="+string(ev.Data))
		return ev.Name != "done"
	}, func(err error) error { return err })
	want := []string{`progress={"a":1}`, "progress=line one\nline two", "=no space", "done={}"}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %q, %v; want %q", got, err, want)
	}
}

func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			w.Write([]byte(`{"status":401,"code":"unauthorized","detail":"the bearer token is not valid","request_id":"r9"}`))
			return
		}
		switch r.URL.Path {
		case "/v1/plain":
			w.WriteHeader(409)
			w.Write([]byte("busy\n"))
		case "/v1/list":
			if r.URL.Query().Get("cursor") == "" {
				w.Write([]byte(`{"items":[1,2],"next_cursor":"c2"}`))
			} else {
				w.Write([]byte(`{"items":[3]}`))
			}
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	_, err := (&Client{Addr: srv.URL, Token: "bad"}).Get(ctx, "/v1/x", nil)
	var e *Error
	if !errors.As(err, &e) || e.Code != "unauthorized" || e.Status != 401 || err.Error() != "the bearer token is not valid (request r9)" {
		t.Errorf("401 = %#v (%v)", err, err)
	}
	c := &Client{Addr: srv.URL, Token: "tok"}
	_, err = c.Get(ctx, "/v1/plain", nil)
	if !errors.As(err, &e) || e.Code != "conflict" || err.Error() != "busy" {
		t.Errorf("plain 409 = %#v (%v)", err, err)
	}
	items, err := c.List(ctx, "/v1/list")
	if b, _ := json.Marshal(items); err != nil || string(b) != "[1,2,3]" {
		t.Errorf("List across pages = %s, %v", b, err)
	}
	_, err = (&Client{Addr: "http://127.0.0.1:1"}).Get(ctx, "/v1/x", nil)
	var u *Unreachable
	if !errors.As(err, &u) {
		t.Errorf("a refused connection = %#v, want *Unreachable", err)
	}
	if Path("orgs", "a b", "apps") != "/v1/orgs/a%20b/apps" {
		t.Errorf("Path does not escape: %s", Path("orgs", "a b", "apps"))
	}
}
