package platform

import (
	"context"
	"sync"
	"time"
)

// Prober reports the state of one dependency of the control plane. Probe returns a short
// description of a healthy state ("leader 127.0.0.1:8300"), or an error saying what is
// wrong; it must honour ctx's deadline.
type Prober interface {
	Name() string
	Probe(ctx context.Context) (string, error)
}

// ComponentStatus is one dependency's state at one moment.
type ComponentStatus struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	Detail  string `json:"detail"`
}

// Health is the state of every dependency, in the order the probers were given.
type Health struct {
	Healthy    bool              `json:"healthy"`
	Components []ComponentStatus `json:"components"`
}

// Unhealthy names the components that are not healthy.
func (h Health) Unhealthy() []string {
	var names []string
	for _, c := range h.Components {
		if !c.Healthy {
			names = append(names, c.Name)
		}
	}
	return names
}

// HealthChecker probes every dependency at once, each within Timeout. With MaxAge set,
// a result is served again until it is that old, and callers arriving while the
// dependencies are being probed wait for that one probe: however often the health is
// asked for (it needs no token), the dependencies see at most one round of probes,
// among them a PostgreSQL login, per MaxAge.
type HealthChecker struct {
	Probers []Prober
	Timeout time.Duration
	MaxAge  time.Duration

	mu   sync.Mutex
	last Health
	at   time.Time
}

// Check returns the state of every dependency, probed at most MaxAge ago.
func (h *HealthChecker) Check(ctx context.Context) Health {
	if h.MaxAge <= 0 {
		return h.probe(ctx)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.at.IsZero() && time.Since(h.at) < h.MaxAge {
		return h.last
	}
	// The probe is shared: one caller going away must not fail it for the others.
	h.last, h.at = h.probe(context.WithoutCancel(ctx)), time.Now()
	return h.last
}

// probe probes all dependencies concurrently. A prober that does not answer within the
// timeout counts as unhealthy.
func (h *HealthChecker) probe(ctx context.Context) Health {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	res := Health{Healthy: true, Components: make([]ComponentStatus, len(h.Probers))}
	var wg sync.WaitGroup
	for i, p := range h.Probers {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			detail, err := p.Probe(pctx)
			cs := ComponentStatus{Name: p.Name(), Healthy: err == nil, Detail: detail}
			if err != nil {
				cs.Detail = err.Error()
			}
			res.Components[i] = cs
		})
	}
	wg.Wait()
	for _, c := range res.Components {
		res.Healthy = res.Healthy && c.Healthy
	}
	return res
}
