package main

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// envMetrics is an environment's metrics as the API returns them.
type envMetrics struct {
	Step   string `json:"step"`
	Series []struct {
		Name     string `json:"name"`
		Instance string `json:"instance"`
		Unit     string `json:"unit"`
		Points   []struct {
			At    time.Time `json:"at"`
			Value *float64  `json:"value"`
		} `json:"points"`
	} `json:"series"`
	Events []struct {
		At      time.Time `json:"at"`
		Message string    `json:"message"`
	} `json:"events"`
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`
}

func (c *cli) metricsCommand() *cobra.Command {
	var window string
	cmd := &cobra.Command{
		Use:   "metrics [ENV]",
		Short: "Show an environment's CPU, memory, requests, errors and latency (default test)",
		Long: `Shows ENV's metrics over the last --window (1h by default, up to 48h): each instance's
CPU (percent of one core) and memory, and the requests, errors (5xx answers) and latency
through the ingress, each as its latest value, mean and peak and a line of the window,
then the window's totals and the instances killed for exceeding their memory.`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			cl, p, r, err := c.envClient(ctx, envArg(a), "metrics")
			if err != nil {
				return err
			}
			var m envMetrics
			raw, err := cl.Get(ctx, p+"?window="+url.QueryEscape(window), &m)
			if err != nil {
				return err
			}
			if c.output == "json" {
				return writeJSON(c.stdout, raw)
			}
			fmt.Fprintf(c.stdout, "%s, last %s (one point per %s)\n", r, window, m.Step)
			t := table{header: []string{"metric", "instance", "now", "mean", "peak", "window"}}
			for _, s := range m.Series {
				vals := make([]*float64, len(s.Points))
				for i, pt := range s.Points {
					vals[i] = pt.Value
				}
				last, mean, peak := summarize(vals)
				t.add(s.Name, s.Instance, withUnit(last, s.Unit), withUnit(mean, s.Unit), withUnit(peak, s.Unit), sparkline(vals, 40))
			}
			if err := writeTable(c.stdout, t, "No metrics yet."); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "\nRequests: %.0f, errors (5xx): %.0f\n", m.Requests, m.Errors)
			for _, e := range m.Events {
				fmt.Fprintf(c.stdout, "%s  %s\n", e.At.Local().Format(time.DateTime), e.Message)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&window, "window", "1h", "how far back to show, 1m to 48h")
	return cmd
}

// summarize is a series' last value, mean and peak; NaN where it has none.
func summarize(vals []*float64) (last, mean, peak float64) {
	last, mean, peak = math.NaN(), math.NaN(), math.NaN()
	sum, n := 0.0, 0
	for _, v := range vals {
		if v == nil {
			continue
		}
		last = *v
		sum += *v
		n++
		if math.IsNaN(peak) || *v > peak {
			peak = *v
		}
	}
	if n > 0 {
		mean = sum / float64(n)
	}
	return last, mean, peak
}

func withUnit(v float64, unit string) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// sparkline draws vals in at most width characters, each the mean of its points, scaled
// from zero to the peak; a space where there was no value.
func sparkline(vals []*float64, width int) string {
	if len(vals) == 0 {
		return ""
	}
	bars := []rune("▁▂▃▄▅▆▇█")
	per := (len(vals) + width - 1) / width
	var cells []float64
	_, _, peak := summarize(vals)
	for i := 0; i < len(vals); i += per {
		sum, n := 0.0, 0
		for _, v := range vals[i:min(i+per, len(vals))] {
			if v != nil {
				sum += *v
				n++
			}
		}
		if n == 0 {
			cells = append(cells, math.NaN())
		} else {
			cells = append(cells, sum/float64(n))
		}
	}
	var b strings.Builder
	for _, v := range cells {
		switch {
		case math.IsNaN(v):
			b.WriteRune(' ')
		case peak <= 0:
			b.WriteRune(bars[0])
		default:
			b.WriteRune(bars[min(len(bars)-1, int(v/peak*float64(len(bars)-1)+0.5))])
		}
	}
	return b.String()
}

// restarts says how often an instance restarted, and how often because it ran out of
// memory.
func restarts(in instance) string {
	s := fmt.Sprint(in.Restarts)
	if in.OOMKills > 0 {
		s += fmt.Sprintf(" (%d killed for exceeding its memory", in.OOMKills)
		if in.LastOOMKill != nil {
			s += ", last " + ago(*in.LastOOMKill, time.Now())
		}
		s += ")"
	}
	return s
}
