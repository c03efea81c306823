// Package metrics keeps environments' metrics in a time-series store (Prometheus's TSDB,
// used as a library: a write-ahead log, compressed two-hour blocks, retention by age)
// and samples them every ten seconds: each instance's CPU and memory from the
// scheduler, each environment's requests, errors and latency from the ingresses'
// Prometheus metrics. It answers per environment, for the API, the CLI and the panel.
//
// Each wharfd that is given a metrics directory samples and keeps its own copy, as a
// pair of Prometheus servers does, so any replica answers and none depends on another.
// It imports no HashiCorp SDK: the scheduler is a small interface (platform/nomad).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/wharf-platform/wharf/platform"
)

// The stored series. Every one has org, app and env labels.
const (
	seriesCPU      = "wharf_instance_cpu_percent"       // instance
	seriesMemory   = "wharf_instance_memory_bytes"      // instance
	seriesOOM      = "wharf_instance_oom_kills"         // instance; Nomad's count in its kept events
	seriesRequests = "wharf_env_requests_total"         // ingress, code (2xx...5xx)
	seriesDurSum   = "wharf_env_request_seconds_sum"    // ingress
	seriesDurCount = "wharf_env_request_seconds_count"  // ingress
	seriesDurBkt   = "wharf_env_request_seconds_bucket" // ingress, le
)

// Sample is one value of one series at one time.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Store is the time-series store in a directory of its own.
type Store struct {
	db *tsdb.DB
}

// Open opens (or creates) the store in dir, keeping samples for retention at least.
func Open(dir string, retention time.Duration, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = retention.Milliseconds()
	db, err := tsdb.Open(dir, log, nil, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("open the metrics store in %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close writes what is pending and closes the store.
func (s *Store) Close() error { return s.db.Close() }

// Append stores samples taken at at.
func (s *Store) Append(ctx context.Context, at time.Time, samples []Sample) error {
	app := s.db.Appender(ctx)
	ts := at.UnixMilli()
	for _, sm := range samples {
		b := labels.NewBuilder(labels.EmptyLabels())
		b.Set(labels.MetricName, sm.Name)
		for k, v := range sm.Labels {
			b.Set(k, v)
		}
		if _, err := app.Append(0, b.Labels(), ts, sm.Value); err != nil && !errors.Is(err, storage.ErrDuplicateSampleForTimestamp) {
			_ = app.Rollback()
			return fmt.Errorf("append %s: %w", sm.Name, err)
		}
	}
	return app.Commit()
}

var _ platform.MetricsReader = (*Store)(nil)

// lookback is how far before a window a counter's earlier value is looked for.
const lookback = 5 * time.Minute

// series is one stored series, its samples in time order.
type series struct {
	labels labels.Labels
	ts     []int64
	vs     []float64
}

// at returns the last value at or before t (ms), and whether there is one.
func (s *series) at(t int64) (float64, bool) {
	i := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > t })
	if i == 0 {
		return 0, false
	}
	return s.vs[i-1], true
}

// in returns the last value in (t-step, t].
func (s *series) in(t, step int64) (float64, bool) {
	i := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > t })
	if i == 0 || s.ts[i-1] <= t-step {
		return 0, false
	}
	return s.vs[i-1], true
}

// increase is how much the counter grew in (t-step, t]: a counter that starts in the
// window started at zero (the ingress makes a route's series at its first request),
// and one that went down was reset (the ingress restarted).
func (s *series) increase(t, step int64) (float64, bool) {
	v1, ok := s.at(t)
	if !ok {
		return 0, false
	}
	v0, ok := s.at(t - step)
	if !ok || v1 < v0 {
		v0 = 0
	}
	return v1 - v0, true
}

// EnvMetrics reads ref's metrics in (from, to], one point per step.
func (s *Store) EnvMetrics(ctx context.Context, ref platform.EnvRef, from, to time.Time, step time.Duration) (platform.EnvMetrics, error) {
	out := platform.EnvMetrics{Org: ref.Org, App: ref.App, Env: ref.Env, From: from, To: to, Step: step.String(), Series: []platform.MetricSeries{}, Events: []platform.MetricEvent{}}
	q, err := s.db.Querier(from.Add(-lookback).UnixMilli(), to.UnixMilli())
	if err != nil {
		return out, platform.Wrap(platform.Internal, err, "query the metrics store")
	}
	defer q.Close()
	set := q.Select(ctx, true, nil,
		labels.MustNewMatcher(labels.MatchEqual, "org", ref.Org),
		labels.MustNewMatcher(labels.MatchEqual, "app", ref.App),
		labels.MustNewMatcher(labels.MatchEqual, "env", ref.Env))
	byName := map[string][]*series{}
	var it chunkenc.Iterator
	for set.Next() {
		st := set.At()
		sr := &series{labels: st.Labels()}
		it = st.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			sr.ts = append(sr.ts, t)
			sr.vs = append(sr.vs, v)
		}
		name := sr.labels.Get(labels.MetricName)
		byName[name] = append(byName[name], sr)
	}
	if err := set.Err(); err != nil {
		return out, platform.Wrap(platform.Internal, err, "read the metrics store")
	}

	stepMS := step.Milliseconds()
	var times []int64
	for t := from.Add(step); !t.After(to); t = t.Add(step) {
		times = append(times, t.UnixMilli())
	}
	points := func(f func(t int64) (float64, bool)) []platform.MetricPoint {
		ps := make([]platform.MetricPoint, len(times))
		for i, t := range times {
			ps[i].At = time.UnixMilli(t).UTC()
			if v, ok := f(t); ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
				v = math.Round(v*1000) / 1000
				ps[i].Value = &v
			}
		}
		return ps
	}

	// Per instance: CPU and memory, and the OOM kills seen.
	for _, m := range []struct {
		series, name, unit string
		scale              float64
	}{{seriesCPU, platform.MetricCPU, "%", 1}, {seriesMemory, platform.MetricMemory, "MB", 1.0 / (1 << 20)}} {
		for _, sr := range byInstance(byName[m.series]) {
			sr := sr
			out.Series = append(out.Series, platform.MetricSeries{Name: m.name, Unit: m.unit, Instance: sr.labels.Get("instance"),
				Points: points(func(t int64) (float64, bool) { v, ok := sr.in(t, stepMS); return v * m.scale, ok })})
		}
	}
	for _, sr := range byName[seriesOOM] {
		for i := 1; i < len(sr.ts); i++ {
			if sr.vs[i] > sr.vs[i-1] && sr.ts[i] > from.UnixMilli() {
				inst := sr.labels.Get("instance")
				out.Events = append(out.Events, platform.MetricEvent{At: time.UnixMilli(sr.ts[i]).UTC(), Instance: inst, Kind: "oom_killed",
					Message: inst + " was killed for exceeding its memory (OOM) and restarted"})
			}
		}
	}
	sort.Slice(out.Events, func(i, j int) bool { return out.Events[i].At.Before(out.Events[j].At) })

	// Per environment, summed over the ingresses: requests, errors, latency.
	sum := func(ss []*series, keep func(*series) bool, t int64) (float64, bool) {
		total, any := 0.0, false
		for _, sr := range ss {
			if keep != nil && !keep(sr) {
				continue
			}
			if v, ok := sr.increase(t, stepMS); ok {
				total, any = total+v, true
			}
		}
		return total, any
	}
	isError := func(sr *series) bool { return sr.labels.Get("code") == "5xx" }
	secs := step.Seconds()
	out.Series = append(out.Series,
		platform.MetricSeries{Name: platform.MetricRequests, Unit: "req/s", Points: points(func(t int64) (float64, bool) {
			v, ok := sum(byName[seriesRequests], nil, t)
			return v / secs, ok
		})},
		platform.MetricSeries{Name: platform.MetricErrors, Unit: "req/s", Points: points(func(t int64) (float64, bool) {
			v, ok := sum(byName[seriesRequests], isError, t)
			return v / secs, ok
		})},
		platform.MetricSeries{Name: platform.MetricLatency, Unit: "ms", Points: points(func(t int64) (float64, bool) {
			n, ok := sum(byName[seriesDurCount], nil, t)
			d, _ := sum(byName[seriesDurSum], nil, t)
			if !ok || n == 0 {
				return 0, false
			}
			return d / n * 1000, true
		})},
		platform.MetricSeries{Name: platform.MetricLatency95, Unit: "ms", Points: points(func(t int64) (float64, bool) {
			return quantile(0.95, byName[seriesDurBkt], t, stepMS)
		})},
	)
	for _, t := range times {
		v, _ := sum(byName[seriesRequests], nil, t)
		e, _ := sum(byName[seriesRequests], isError, t)
		out.Requests += v
		out.Errors += e
	}
	return out, nil
}

// byInstance orders an instance metric's series by instance name.
func byInstance(ss []*series) []*series {
	out := append([]*series(nil), ss...)
	sort.Slice(out, func(i, j int) bool { return out[i].labels.Get("instance") < out[j].labels.Get("instance") })
	return out
}

// quantile estimates the q-quantile of the requests answered in (t-step, t] from the
// histogram's cumulative buckets, as Prometheus's histogram_quantile does: linear
// within the bucket it falls in.
func quantile(q float64, buckets []*series, t, step int64) (float64, bool) {
	counts := map[float64]float64{}
	for _, b := range buckets {
		le, err := strconv.ParseFloat(b.labels.Get("le"), 64)
		if err != nil {
			continue
		}
		if v, ok := b.increase(t, step); ok {
			counts[le] += v
		}
	}
	if len(counts) == 0 {
		return 0, false
	}
	bounds := make([]float64, 0, len(counts))
	for le := range counts {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	total := counts[bounds[len(bounds)-1]]
	if total == 0 {
		return 0, false
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		c := counts[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevBound * 1000, true // beyond the last finite bucket: its bound
			}
			if c == prevCount {
				return le * 1000, true
			}
			return (prevBound + (le-prevBound)*(rank-prevCount)/(c-prevCount)) * 1000, true
		}
		prevBound, prevCount = le, c
	}
	return prevBound * 1000, true
}
