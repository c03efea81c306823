package metrics

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wharf-platform/wharf/platform"
)

// InstanceStatser samples the running instances of a region (platform/nomad).
type InstanceStatser interface {
	InstanceStats(ctx context.Context, region string) ([]platform.InstanceStat, error)
}

// Collector samples every environment's metrics into the store, every Interval.
type Collector struct {
	Store     *Store
	Instances InstanceStatser
	// Regions lists the regions to sample instances in.
	Regions func(ctx context.Context) ([]string, error)
	// Ingresses are the URLs of the ingresses' Prometheus metrics (their /metrics).
	Ingresses []string
	// Interval is the sampling step; platform.MetricsStep when zero.
	Interval time.Duration
	HTTP     *http.Client
	Log      *slog.Logger
}

// Run samples until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	every := c.Interval
	if every == 0 {
		every = platform.MetricsStep
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := c.Collect(ctx, time.Now()); err != nil && ctx.Err() == nil {
			c.log().Warn("metrics not sampled", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Collector) log() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

// Collect takes one sample of everything and stores it at at. A source that does not
// answer is logged and skipped; the others are stored.
func (c *Collector) Collect(ctx context.Context, at time.Time) error {
	var samples []Sample
	if c.Instances != nil && c.Regions != nil {
		regions, err := c.Regions(ctx)
		if err != nil {
			return err
		}
		for _, region := range regions {
			stats, err := c.Instances.InstanceStats(ctx, region)
			if err != nil {
				c.log().Warn("instances not sampled", "region", region, "error", err)
				continue
			}
			for _, st := range stats {
				l := map[string]string{"org": st.Ref.Org, "app": st.Ref.App, "env": st.Ref.Env, "instance": st.Instance}
				samples = append(samples,
					Sample{Name: seriesCPU, Labels: l, Value: st.CPUPercent},
					Sample{Name: seriesMemory, Labels: l, Value: st.MemoryBytes},
					Sample{Name: seriesOOM, Labels: l, Value: float64(st.OOMKills)})
			}
		}
	}
	for i, u := range c.Ingresses {
		s, err := c.scrapeIngress(ctx, u, strconv.Itoa(i))
		if err != nil {
			c.log().Warn("ingress not sampled", "url", u, "error", err)
			continue
		}
		samples = append(samples, s...)
	}
	return c.Store.Append(ctx, at, samples)
}

// scrapeIngress reads an ingress's request metrics and returns them per environment,
// labelled with the ingress's index (each counts its own requests).
func (c *Collector) scrapeIngress(ctx context.Context, url, ingress string) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	var out []Sample
	labelsOf := func(route string) (map[string]string, bool) {
		ref, ok := platform.ParseRouteName(route)
		if !ok {
			return nil, false
		}
		return map[string]string{"org": ref.Org, "app": ref.App, "env": ref.Env, "ingress": ingress}, true
	}
	if f := families["wharf_ingress_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			var route, code string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "route":
					route = lp.GetValue()
				case "code":
					code = lp.GetValue()
				}
			}
			if l, ok := labelsOf(route); ok {
				l["code"] = code
				out = append(out, Sample{Name: seriesRequests, Labels: l, Value: m.GetCounter().GetValue()})
			}
		}
	}
	if f := families["wharf_ingress_request_duration_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			var route string
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "route" {
					route = lp.GetValue()
				}
			}
			l, ok := labelsOf(route)
			if !ok {
				continue
			}
			h := m.GetHistogram()
			out = append(out,
				Sample{Name: seriesDurSum, Labels: l, Value: h.GetSampleSum()},
				Sample{Name: seriesDurCount, Labels: l, Value: float64(h.GetSampleCount())})
			bucket := func(le string, n float64) {
				bl := map[string]string{"le": le}
				for k, v := range l {
					bl[k] = v
				}
				out = append(out, Sample{Name: seriesDurBkt, Labels: bl, Value: n})
			}
			inf := false
			for _, b := range h.GetBucket() {
				le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
				inf = inf || le == "+Inf"
				bucket(le, float64(b.GetCumulativeCount()))
			}
			if !inf {
				bucket("+Inf", float64(h.GetSampleCount()))
			}
		}
	}
	return out, nil
}
