package platform

import (
	"context"
	"time"
)

// MetricPoint is one value of a metric at the end of a step; Value is nil where there
// was no sample (the instance did not run, nothing was scraped).
type MetricPoint struct {
	At    time.Time `json:"at"`
	Value *float64  `json:"value"`
}

// MetricSeries is one metric of an environment over a window, one point per step:
// per instance (Instance set: cpu_percent, memory_mb) or for the whole environment
// (requests_per_second, errors_per_second, latency_ms_mean, latency_ms_p95).
type MetricSeries struct {
	Name     string        `json:"name"`
	Instance string        `json:"instance,omitempty"` // process.index, as web.0
	Unit     string        `json:"unit"`
	Points   []MetricPoint `json:"points"`
}

// MetricEvent is something that happened to an instance in the window: an instance
// killed for exceeding its memory.
type MetricEvent struct {
	At       time.Time `json:"at"`
	Instance string    `json:"instance"`
	Kind     string    `json:"kind"` // oom_killed
	Message  string    `json:"message"`
}

// EnvMetrics is an environment's metrics over a window, with the window's totals.
type EnvMetrics struct {
	Org    string         `json:"org"`
	App    string         `json:"app"`
	Env    string         `json:"env"`
	From   time.Time      `json:"from"`
	To     time.Time      `json:"to"`
	Step   string         `json:"step"`
	Series []MetricSeries `json:"series"`
	Events []MetricEvent  `json:"events"`
	// Requests and Errors (5xx answers) are the window's totals through the ingress.
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`
}

// The metrics' names.
const (
	MetricCPU       = "cpu_percent"
	MetricMemory    = "memory_mb"
	MetricRequests  = "requests_per_second"
	MetricErrors    = "errors_per_second"
	MetricLatency   = "latency_ms_mean"
	MetricLatency95 = "latency_ms_p95"
)

// MetricsReader reads an environment's metrics from the time-series store
// (platform/metrics). Errors: unavailable, internal.
type MetricsReader interface {
	EnvMetrics(ctx context.Context, ref EnvRef, from, to time.Time, step time.Duration) (EnvMetrics, error)
}

// MetricsRetention is how long metrics are kept at least, and MetricsStep how often
// they are sampled.
const (
	MetricsRetention = 48 * time.Hour
	MetricsStep      = 10 * time.Second
	// MaxMetricPoints bounds the points of one series in an answer.
	MaxMetricPoints = 1000
)

// Metrics returns the environment's metrics over the window ending now (viewer). The
// step is the sampling step, or larger so that no series has more than
// MaxMetricPoints. Errors: invalid (window), not_found, forbidden, unavailable.
func (s *Runs) Metrics(ctx context.Context, p Principal, ref EnvRef, window time.Duration) (EnvMetrics, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return EnvMetrics{}, err
	}
	if window < time.Minute || window > MetricsRetention {
		var fe FieldErrors
		fe.Add("window", "must be between 1m and %s", MetricsRetention)
		return EnvMetrics{}, fe.Err()
	}
	if _, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env); err != nil {
		return EnvMetrics{}, err
	}
	if s.MetricsStore == nil {
		return EnvMetrics{}, Errorf(Unavailable, "metrics are not kept on this cloudspace")
	}
	step := MetricsStep
	for window/step > MaxMetricPoints {
		step *= 2
	}
	to := s.now().Truncate(step).Add(step)
	return s.MetricsStore.EnvMetrics(ctx, Ref(org, app, env), to.Add(-window), to, step)
}

// Regions lists the regions of the platform's cloudspaces, for work done in each (the
// metrics collector).
func (s *Service) Regions(ctx context.Context) ([]string, error) {
	cs, err := loadAll[Cloudspace](ctx, s.KV, "cloudspaces/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		if !seen[c.Region] {
			seen[c.Region] = true
			out = append(out, c.Region)
		}
	}
	return out, nil
}
