package panel

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// tokenModel knows one token; the panel's other needs are not met (a call panics).
type tokenModel struct {
	Model
	token string
}

func (m tokenModel) Authenticate(_ context.Context, token string) (platform.Principal, error) {
	if token != m.token {
		return platform.Principal{}, platform.Errorf(platform.Unauthorized, "the bearer token is not valid")
	}
	return platform.Principal{Person: "ada"}, nil
}

// TestSignInAndCSRF checks the session cookie's attributes over HTTP and TLS, and that
// a POST is refused without the form's CSRF token, with another one, or from another
// origin.
func TestSignInAndCSRF(t *testing.T) {
	const token = "wharf_t0ken"
	e := echo.New()
	New(Config{Model: tokenModel{token: token}, Sessions: &memKV{recs: map[string]platform.Record{}}}).Register(e)
	do := func(method, target string, form url.Values, cookies []*http.Cookie, tlsOn bool, origin string) *httptest.ResponseRecorder {
		var req *http.Request
		if form != nil {
			req = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req = httptest.NewRequest(method, target, nil)
		}
		if tlsOn {
			req.TLS = &tls.ConnectionState{}
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	cookie := func(rec *httptest.ResponseRecorder, name string) *http.Cookie {
		for _, c := range rec.Result().Cookies() {
			if c.Name == name && c.MaxAge >= 0 {
				return c
			}
		}
		return nil
	}

	for _, tc := range []struct {
		name   string
		tls    bool
		cookie string
		origin string
	}{
		{"http", false, "wharf_session", "http://evil.test"},
		{"https", true, "__Host-wharf_session", "https://evil.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page := do(http.MethodGet, "/signin", nil, nil, tc.tls, "")
			pre := cookie(page, signinCookie)
			if page.Code != 200 || pre == nil || !strings.Contains(page.Body.String(), pre.Value) {
				t.Fatalf("sign-in page = %d, cookie %v", page.Code, pre)
			}
			form := url.Values{"csrf": {pre.Value}, "token": {token}}
			if rec := do(http.MethodPost, "/signin", form, nil, tc.tls, ""); rec.Code != 403 {
				t.Errorf("sign-in without the pre-session cookie = %d, want 403", rec.Code)
			}
			if rec := do(http.MethodPost, "/signin", url.Values{"csrf": {"other"}, "token": {token}}, []*http.Cookie{pre}, tc.tls, ""); rec.Code != 403 {
				t.Errorf("sign-in with another CSRF value = %d, want 403", rec.Code)
			}
			if rec := do(http.MethodPost, "/signin", url.Values{"csrf": {pre.Value}, "token": {"wrong"}}, []*http.Cookie{pre}, tc.tls, ""); rec.Code != 401 || cookie(rec, tc.cookie) != nil {
				t.Errorf("sign-in with a wrong token = %d", rec.Code)
			}
			rec := do(http.MethodPost, "/signin", form, []*http.Cookie{pre}, tc.tls, "")
			sc := cookie(rec, tc.cookie)
			if rec.Code != http.StatusSeeOther || sc == nil {
				t.Fatalf("sign-in = %d, cookies %v", rec.Code, rec.Result().Cookies())
			}
			if !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Secure != tc.tls {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Secure=%v", sc, tc.tls)
			}
			if strings.Contains(sc.Value, token) {
				t.Error("the session cookie carries the token")
			}
			id, _ := base64.RawURLEncoding.DecodeString(sc.Value)
			good := csrfToken(id)
			for name, post := range map[string]struct {
				form   url.Values
				origin string
			}{
				"no token":     {url.Values{}, ""},
				"wrong token":  {url.Values{"csrf": {csrfToken(make([]byte, 32))}}, ""},
				"other origin": {url.Values{"csrf": {good}}, tc.origin},
			} {
				if rec := do(http.MethodPost, "/signout", post.form, []*http.Cookie{sc}, tc.tls, post.origin); rec.Code != 403 || !strings.Contains(rec.Body.String(), "CSRF") {
					t.Errorf("%s: POST = %d, want 403", name, rec.Code)
				}
			}
			if rec := do(http.MethodGet, "/orgs/ACME%2F..", nil, []*http.Cookie{sc}, tc.tls, ""); rec.Code != 404 {
				t.Errorf("a path naming no possible organisation = %d, want 404", rec.Code)
			}
			if rec := do(http.MethodPost, "/signout", url.Values{"csrf": {good}}, []*http.Cookie{sc}, tc.tls, ""); rec.Code != http.StatusSeeOther {
				t.Fatalf("sign-out with the session's token = %d", rec.Code)
			}
			if rec := do(http.MethodGet, "/", nil, []*http.Cookie{sc}, tc.tls, ""); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin" {
				t.Errorf("after sign-out the old cookie gets %d %s, want a redirect to sign in", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
}
