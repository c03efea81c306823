package ingress

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"
)

// Config configures a Proxy. Zero values take the defaults shown.
type Config struct {
	// Log receives the proxy's own events; AccessLog, when set, one record per request.
	Log       *slog.Logger
	AccessLog *slog.Logger
	// Registerer receives the proxy's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// ConnectTimeout bounds connecting to an instance (5 s); ReadTimeout bounds waiting
	// for its response headers (30 s). Either expiring answers 504.
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	// Attempts is how many instances a request tries when connections are refused (3).
	Attempts int
	// Transport, when set, replaces the transport to instances (tests, benchmarks).
	Transport http.RoundTripper
	// OnRoutes, when set, is called with every host of each new route table, from the
	// goroutine that applies updates: it must not block (Certs.Prefetch does not).
	OnRoutes func(hosts []string)
}

// Proxy is Wharf's reverse proxy. Its route table changes only through Run; ServeHTTP
// reads it through an atomic pointer and takes no lock.
type Proxy struct {
	cfg     Config
	table   atomic.Pointer[table]
	rp      *httputil.ReverseProxy
	metrics *proxyMetrics
	applied atomic.Uint64
	ready   atomic.Bool
	// routesLoaded is set by Run's goroutine once the first routes are applied.
	routesLoaded bool
}

// New returns a Proxy with an empty route table: until Run applies a RoutesUpdate, every
// host is unknown.
func New(cfg Config) *Proxy {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 3
	}
	if cfg.Transport == nil {
		cfg.Transport = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: cfg.ReadTimeout,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	p := &Proxy{cfg: cfg, metrics: newProxyMetrics(cfg.Registerer)}
	p.table.Store(&table{hosts: map[string]*target{}})
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite,
		Transport:    &retryTransport{base: cfg.Transport},
		ErrorHandler: p.proxyError,
		ErrorLog:     slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	return p
}

// Run applies updates until ctx ends or updates is closed. Only one Run may be active.
func (p *Proxy) Run(ctx context.Context, updates <-chan Update) error {
	st := newState()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			p.apply(st, u)
		}
	}
}

func (p *Proxy) apply(st *state, u Update) {
	switch u := u.(type) {
	case RoutesUpdate:
		t, conflicts := st.setRoutes(u.Routes, p.metrics)
		for h, names := range conflicts {
			p.cfg.Log.Warn("host claimed by more than one route: serving none of them", "host", h, "routes", names)
		}
		p.table.Store(t)
		p.routesLoaded = true
		if p.cfg.OnRoutes != nil {
			hosts := make([]string, 0, len(t.hosts))
			for h := range t.hosts {
				hosts = append(hosts, h)
			}
			p.cfg.OnRoutes(hosts)
		}
		p.cfg.Log.Info("routes updated", "routes", len(u.Routes), "hosts", len(t.hosts))
	case InstancesUpdate:
		st.setInstances(u.Service, u.Instances)
		p.cfg.Log.Debug("instances updated", "service", u.Service, "instances", len(u.Instances))
	}
	if !p.ready.Load() && p.routesLoaded && st.instancesKnown() {
		p.ready.Store(true)
	}
	p.applied.Add(1)
}

// Ready reports whether the route records have been loaded, and the instances of every
// service they name read, once: until then a host answers 404 or 503 where it will not a
// moment later, and a health check should keep traffic away. Once ready, it stays so: a
// route added later is served as soon as its instances are read.
func (p *Proxy) Ready() bool { return p.ready.Load() }

// Instances returns the instances a request for host would be sent to now (nil for an
// unknown host). Benchmarks use it to see when a change has taken effect.
func (p *Proxy) Instances(host string) []Instance {
	tg := p.table.Load().hosts[host]
	if tg == nil {
		return nil
	}
	return tg.serving().instances.Load().list
}

// Routed reports whether host is in the route table; the certificate manager asks it
// before ordering a certificate.
func (p *Proxy) Routed(host string) bool {
	_, ok := p.table.Load().hosts[strings.ToLower(host)]
	return ok
}

type ctxKey struct{}

// attempt is what a request carries from ServeHTTP to the transport.
type attempt struct {
	instances []Instance
	upstream  string // the instance that answered, for the access log
}

// ServeHTTP routes one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &recorder{ResponseWriter: w}
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		id = newRequestID()
		r.Header.Set("X-Request-Id", id)
	}
	rw.Header().Set("X-Request-Id", id)

	host := hostOnly(r.Host)
	tg := p.table.Load().hosts[host]
	var at *attempt
	switch {
	case tg == nil:
		page(rw, http.StatusNotFound, "No application here", fmt.Sprintf("No Wharf environment answers to %s.", host))
	case r.TLS == nil && tg.route.HTTPSRedirect:
		redirect(rw, r, "https", tg.route.Primary)
	case host != tg.route.Primary:
		redirect(rw, r, scheme(r), tg.route.Primary)
	case tg.route.BasicAuth != nil && !tg.authorized(r):
		rw.Header().Set("WWW-Authenticate", `Basic realm="`+tg.route.Name()+`", charset="UTF-8"`)
		page(rw, http.StatusUnauthorized, "Authentication required", "This environment is protected.")
	default:
		insts := tg.serving().instances.Load().pick(p.cfg.Attempts)
		if len(insts) == 0 {
			rw.Header().Set("Retry-After", "5")
			page(rw, http.StatusServiceUnavailable, "No healthy instance",
				fmt.Sprintf("%s has no instance passing its health check right now. Try again shortly.", tg.route.Name()))
			break
		}
		at = &attempt{instances: insts}
		p.rp.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, at)))
	}

	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	elapsed := time.Since(start)
	route := "-"
	if tg != nil {
		route = tg.route.Name()
		tg.m.byClass[min(status/100, 5)].Inc()
		tg.m.duration.Observe(elapsed.Seconds())
	} else {
		p.metrics.unrouted.Inc()
	}
	if l := p.cfg.AccessLog; l != nil {
		upstream := ""
		if at != nil {
			upstream = at.upstream
		}
		l.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("id", id), slog.String("route", route), slog.String("host", host),
			slog.String("method", r.Method), slog.String("uri", r.RequestURI),
			slog.Int("status", status), slog.Int64("bytes", rw.bytes),
			slog.Duration("duration", elapsed), slog.String("upstream", upstream),
			slog.String("remote", r.RemoteAddr))
	}
}

// rewrite prepares the outgoing request: the first instance to try (the transport may
// try others) and the X-Forwarded-* headers.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	at := pr.In.Context().Value(ctxKey{}).(*attempt)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = at.instances[0].Addr
	pr.SetXForwarded()
	pr.Out.Host = pr.In.Host
}

// proxyError answers a request no instance answered: 504 when connecting or waiting
// for the response took too long, 502 otherwise.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody reads the answer.
		w.WriteHeader(499)
		return
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		page(w, http.StatusGatewayTimeout, "The application did not answer in time", "The request timed out. Try again shortly.")
		return
	}
	p.cfg.Log.Warn("upstream failed", "host", r.Host, "error", err)
	page(w, http.StatusBadGateway, "The application could not be reached", "The request could not be completed. Try again shortly.")
}

// retryTransport sends a request to the instances ServeHTTP picked, moving on to the next
// when a connection is refused: nothing was sent then, so any method may be retried.
type retryTransport struct{ base http.RoundTripper }

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	at, _ := req.Context().Value(ctxKey{}).(*attempt)
	if at == nil {
		return t.base.RoundTrip(req)
	}
	if len(at.instances) > 1 && req.Body != nil && req.Body != http.NoBody {
		// The transport closes a request's body when it fails; a refused connection read
		// none of it, so the next attempt sends it whole. The server closes it in the end.
		req.Body = io.NopCloser(req.Body)
	}
	var err error
	for i, inst := range at.instances {
		if i > 0 {
			req = req.Clone(req.Context())
			req.URL.Host = inst.Addr
		}
		var resp *http.Response
		resp, err = t.base.RoundTrip(req)
		if err == nil {
			at.upstream = inst.Addr
			return resp, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
	}
	return nil, err
}

// authorized reports whether the request carries the route's basic auth credential.
func (tg *target) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	a := tg.route.BasicAuth
	k := sha256.Sum256([]byte(user + "\x00" + pass))
	if tg.auth.has(k) {
		return true
	}
	if subtle.ConstantTimeCompare([]byte(user), []byte(a.Username)) != 1 ||
		bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(pass)) != nil {
		return false
	}
	tg.auth.add(k)
	return true
}

func redirect(w http.ResponseWriter, r *http.Request, scheme, host string) {
	w.Header().Set("Location", scheme+"://"+host+r.URL.RequestURI())
	w.WriteHeader(http.StatusPermanentRedirect)
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// hostOnly returns the request's host in lower case, without a port.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// requestIDs makes request ids: a random prefix per process and a counter, unique
// without a system call per request.
var requestIDs = func() struct {
	prefix string
	n      *atomic.Uint64
} {
	var b [6]byte
	rand.Read(b[:])
	return struct {
		prefix string
		n      *atomic.Uint64
	}{hex.EncodeToString(b[:]), new(atomic.Uint64)}
}()

func newRequestID() string {
	return requestIDs.prefix + strconv.FormatUint(requestIDs.n.Add(1), 16)
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Status}} {{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem}p{color:#555}small{color:#999}</style></head>
<body><h1>{{.Title}}</h1><p>{{.Detail}}</p><small>{{.Status}} · Wharf</small></body></html>
`))

// page writes the ingress's own answer as a small HTML page.
func page(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	pageTemplate.Execute(w, struct {
		Status        int
		Title, Detail string
	}{status, title, detail})
}

// recorder notes the status and size of an answer. Unwrap lets http.ResponseController
// (and so the reverse proxy's WebSocket hijack and flushes) reach the real writer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// proxyMetrics are the proxy's Prometheus metrics.
type proxyMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	unrouted prometheus.Counter
}

func newProxyMetrics(reg prometheus.Registerer) *proxyMetrics {
	m := &proxyMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wharf_ingress_requests_total", Help: "Requests answered, by route (app/env) and status class.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wharf_ingress_request_duration_seconds", Help: "Time to answer a request, by route (app/env).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wharf_ingress_unrouted_requests_total", Help: "Requests for hosts no route names.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.unrouted)
	}
	return m
}

// forget deletes a route's series.
func (m *proxyMetrics) forget(name string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"route": name})
	m.duration.DeleteLabelValues(name)
}

func (m *proxyMetrics) route(name string) routeMetrics {
	var rm routeMetrics
	for c := range rm.byClass {
		label := fmt.Sprintf("%dxx", c)
		if c == 0 {
			label = "other"
		}
		rm.byClass[c] = m.requests.WithLabelValues(name, label)
	}
	rm.duration = m.duration.WithLabelValues(name)
	return rm
}
