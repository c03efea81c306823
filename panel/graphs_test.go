package panel

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// TestGraphSVG renders a chart with two instances, a gap and an OOM kill: it is
// well-formed XML with no script, a line per instance, the gap left open, the kill
// marked, and the text escaped.
func TestGraphSVG(t *testing.T) {
	from := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	v := func(f float64) *float64 { return &f }
	pts := func(vals ...*float64) []platform.MetricPoint {
		var out []platform.MetricPoint
		for i, x := range vals {
			out = append(out, platform.MetricPoint{At: from.Add(time.Duration(i+1) * 10 * time.Second), Value: x})
		}
		return out
	}
	m := platform.EnvMetrics{From: from, To: from.Add(50 * time.Second), Series: []platform.MetricSeries{
		{Name: platform.MetricCPU, Instance: "web.0", Points: pts(v(1), v(3), nil, v(40), v(7))},
		{Name: platform.MetricCPU, Instance: "<web.1>", Points: pts(v(2), v(2), v(2), v(2), v(2))},
	}, Events: []platform.MetricEvent{{At: from.Add(30 * time.Second), Instance: "web.0", Kind: "oom_killed", Message: "web.0 was killed & restarted"}}}
	g := graphsOf(m)[0]
	out := string(g.svg(m.From, m.To, m.Events))
	d := xml.NewDecoder(strings.NewReader(out))
	paths, marks := 0, 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v\n%s", err, out)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "script", "style", "foreignObject":
				t.Errorf("the chart holds a %s element", se.Name.Local)
			case "path":
				paths++
				for _, a := range se.Attr {
					if a.Name.Local == "d" && strings.Count(a.Value, "M") > 1 {
						marks += 100 // the gap opened a second segment
					}
				}
			case "line":
				for _, a := range se.Attr {
					if a.Name.Local == "class" && a.Value == "oom" {
						marks++
					}
				}
			}
		}
	}
	if paths != 2 || marks != 101 {
		t.Errorf("%d lines and marks %d; want 2 lines, web.0's broken by its gap, and one OOM mark:\n%s", paths, marks, out)
	}
	if !strings.Contains(out, "&lt;web.1&gt;") || strings.Contains(out, "<web.1>") || !strings.Contains(out, "killed &amp; restarted") {
		t.Errorf("labels are not escaped:\n%s", out)
	}
	if !strings.Contains(out, ">50<") { // 40 at peak: the axis tops at 50
		t.Errorf("the axis does not top at 50:\n%s", out)
	}
}
