package panel

import (
	"context"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// MetricsSource reads an environment's metrics for the environment page's graphs;
// *platform.Runs is one.
type MetricsSource interface {
	Metrics(ctx context.Context, p platform.Principal, ref platform.EnvRef, window time.Duration) (platform.EnvMetrics, error)
}

var _ MetricsSource = (*platform.Runs)(nil)

// graphWindow is how far back the environment page's graphs reach.
const graphWindow = time.Hour

// graph is one chart: a title, a unit and its lines.
type graph struct {
	ID, Title, Unit string
	Lines           []graphLine
}

type graphLine struct {
	Label  string
	Points []platform.MetricPoint
}

// graphsOf groups an environment's series into the page's charts: CPU and memory per
// instance, requests and errors, latency.
func graphsOf(m platform.EnvMetrics) []graph {
	gs := []graph{
		{ID: "graph-cpu", Title: "CPU", Unit: "% of a core"},
		{ID: "graph-memory", Title: "Memory", Unit: "MB"},
		{ID: "graph-requests", Title: "Requests", Unit: "per second"},
		{ID: "graph-latency", Title: "Latency", Unit: "ms"},
	}
	for _, s := range m.Series {
		var i int
		label := s.Instance
		switch s.Name {
		case platform.MetricCPU:
			i = 0
		case platform.MetricMemory:
			i = 1
		case platform.MetricRequests:
			i, label = 2, "all"
		case platform.MetricErrors:
			i, label = 2, "errors (5xx)"
		case platform.MetricLatency:
			i, label = 3, "mean"
		case platform.MetricLatency95:
			i, label = 3, "95th percentile"
		default:
			continue
		}
		gs[i].Lines = append(gs[i].Lines, graphLine{Label: label, Points: s.Points})
	}
	return gs
}

// Geometry of a chart, in SVG user units.
const (
	graphW, graphH             = 640, 180
	padL, padR, padT, padB     = 56, 12, 28, 24
	plotW, plotH               = graphW - padL - padR, graphH - padT - padB
	graphColours               = "#2b6cb0 #c05621 #2f855a #6b46c1 #b7791f #0987a0"
	oomColour, gridColour      = "#c53030", "#d0d7de"
	textColour, mutedTextColor = "#1f2328", "#57606a"
)

// svg renders g as an inline SVG chart (no script, no style sheet: presentation
// attributes only, so the page's content security policy holds), with the window's
// OOM kills as red marks. Every text in it is escaped.
func (g graph) svg(from, to time.Time, events []platform.MetricEvent) template.HTML {
	esc := template.HTMLEscapeString
	peak := 0.0
	for _, l := range g.Lines {
		for _, p := range l.Points {
			if p.Value != nil && *p.Value > peak {
				peak = *p.Value
			}
		}
	}
	top := niceCeil(peak)
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		return padL + math.Max(0, math.Min(1, t.Sub(from).Seconds()/span))*plotW
	}
	y := func(v float64) float64 { return padT + plotH - v/top*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" id="%s" class="graph" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="%s-title" font-family="sans-serif" font-size="11">`, g.ID, graphW, graphH, g.ID)
	fmt.Fprintf(&b, `<title id="%s-title">%s (%s), %s to %s UTC</title>`, g.ID, esc(g.Title), esc(g.Unit), from.UTC().Format("15:04"), to.UTC().Format("15:04"))
	fmt.Fprintf(&b, `<text x="%d" y="16" fill="%s" font-weight="bold">%s <tspan fill="%s" font-weight="normal">%s</tspan></text>`, padL, textColour, esc(g.Title), mutedTextColor, esc(g.Unit))
	// Grid: zero, half, top; times at start, middle, end.
	for _, f := range []float64{0, 0.5, 1} {
		yy := y(top * f)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>`, padL, yy, graphW-padR, yy, gridColour)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`, padL-6, yy+4, mutedTextColor, esc(axisLabel(top*f)))
	}
	for _, f := range []float64{0, 0.5, 1} {
		t := from.Add(time.Duration(f * float64(to.Sub(from))))
		anchor := map[float64]string{0: "start", 0.5: "middle", 1: "end"}[f]
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s" fill="%s">%s</text>`, x(t), graphH-6, anchor, mutedTextColor, t.UTC().Format("15:04"))
	}
	for _, e := range events {
		if e.At.Before(from) || e.At.After(to) {
			continue
		}
		xx := x(e.At)
		fmt.Fprintf(&b, `<line class="oom" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="4 3"><title>%s</title></line>`,
			xx, padT, xx, padT+plotH, oomColour, esc(e.At.UTC().Format("15:04:05")+" "+e.Message))
	}
	colours := strings.Fields(graphColours)
	legendX := float64(padL + 160)
	for i, l := range g.Lines {
		c := colours[i%len(colours)]
		if l.Label == "errors (5xx)" {
			c = oomColour
		}
		// One path; a gap where there is no value.
		var d strings.Builder
		pen := false
		for _, p := range l.Points {
			if p.Value == nil {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(p.At), y(*p.Value))
			pen = true
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round"><title>%s</title></path>`, strings.TrimSpace(d.String()), c, esc(l.Label))
		}
		if l.Label != "" {
			fmt.Fprintf(&b, `<rect x="%.1f" y="8" width="10" height="10" fill="%s"/><text x="%.1f" y="16" fill="%s">%s</text>`, legendX, c, legendX+14, textColour, esc(l.Label))
			legendX += 14 + 7*float64(len([]rune(l.Label))) + 16
		}
	}
	if len(g.Lines) == 0 || peak == 0 && !hasValue(g.Lines) {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="%s">no data yet</text>`, padL+plotW/2, padT+plotH/2, mutedTextColor)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above from numbers and escaped text
}

func hasValue(ls []graphLine) bool {
	for _, l := range ls {
		for _, p := range l.Points {
			if p.Value != nil {
				return true
			}
		}
	}
	return false
}

// niceCeil is the smallest of 1, 2, 2.5 or 5 times a power of ten at or above v (1 for
// nothing), so that the axis reads well.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// graphs draws the environment's charts of the last graphWindow; none where metrics are
// not kept or cannot be read (the page shows the rest).
func (p *Panel) graphs(r *request, org, app, env string) ([]template.HTML, []platform.MetricEvent) {
	if p.metrics == nil {
		return nil, nil
	}
	m, err := p.metrics.Metrics(r.ctx(), r.who, platform.Ref(org, app, env), graphWindow)
	if err != nil {
		p.log.Warn("metrics not shown", "org", org, "app", app, "env", env, "error", err)
		return nil, nil
	}
	var out []template.HTML
	for _, g := range graphsOf(m) {
		out = append(out, g.svg(m.From, m.To, m.Events))
	}
	return out, m.Events
}
