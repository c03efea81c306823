package nomad

import (
	"context"
	"strconv"
	"strings"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/platform"
)

// oomKills counts the task's terminations that were kills for exceeding its memory,
// among the events Nomad keeps (its last ten), and when the last was.
func oomKills(ts *nomadapi.TaskState) (int, *time.Time) {
	n := 0
	var last *time.Time
	for _, ev := range ts.Events {
		if ev.Type == nomadapi.TaskTerminated && ev.Details["oom_killed"] == "true" {
			n++
			at := time.Unix(0, ev.Time).UTC()
			last = &at
		}
	}
	return n, last
}

// InstanceStats samples every running instance of every environment's service job in
// region: CPU (percent of one core) and memory, from Nomad's allocation stats, and the
// OOM kills its task events show. An instance whose stats cannot be read (it just
// stopped) is left out. Errors: unavailable.
func (c *Client) InstanceStats(ctx context.Context, region string) ([]platform.InstanceStat, error) {
	q := c.query(ctx, region)
	q.Prefix = platform.EnvJobsPrefix
	jobs, _, err := c.api.Jobs().List(q)
	if err != nil {
		return nil, translate(err, "list jobs")
	}
	var out []platform.InstanceStat
	for _, j := range jobs {
		ref, ok := platform.ParseServiceJobID(j.ID)
		if !ok {
			continue
		}
		stubs, _, err := c.api.Jobs().Allocations(j.ID, false, c.query(ctx, region))
		if err != nil {
			return nil, translate(err, "list allocations")
		}
		for _, s := range stubs {
			if s.ClientStatus != nomadapi.AllocClientStatusRunning {
				continue
			}
			st := platform.InstanceStat{Ref: ref, ID: s.ID, Instance: s.TaskGroup + "." + strconv.Itoa(allocIndex(s.Name))}
			if ts := s.TaskStates[execTask]; ts != nil {
				st.OOMKills, _ = oomKills(ts)
			}
			u, err := c.api.Allocations().Stats(&nomadapi.Allocation{ID: s.ID, NodeID: s.NodeID}, c.query(ctx, region))
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				continue
			}
			if r := u.ResourceUsage; r != nil {
				if r.CpuStats != nil {
					st.CPUPercent = r.CpuStats.Percent
				}
				if m := r.MemoryStats; m != nil {
					st.MemoryBytes = float64(m.RSS)
					if st.MemoryBytes == 0 || hasMeasured(m.Measured, "Usage") && !hasMeasured(m.Measured, "RSS") {
						st.MemoryBytes = float64(m.Usage)
					}
				}
			}
			out = append(out, st)
		}
	}
	return out, nil
}

func hasMeasured(measured []string, what string) bool {
	for _, m := range measured {
		if strings.EqualFold(m, what) {
			return true
		}
	}
	return false
}
