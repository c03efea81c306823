package platform

import (
	"context"
	"slices"
	"strings"
)

func (c Cloudspace) check() FieldErrors {
	var fe FieldErrors
	fe.Check("name", CheckName(c.Name))
	if !slices.Contains(Vendors, c.Vendor) {
		fe.Add("vendor", "must be one of %s", strings.Join(Vendors, ", "))
	}
	if c.Location == "" {
		fe.Add("location", "is required")
	}
	fe.Check("location", CheckText(c.Location, 100))
	if !slices.Contains(Tenancies, c.Tenancy) {
		fe.Add("tenancy", "must be one of %s", strings.Join(Tenancies, ", "))
	}
	fe.Check("region", CheckName(c.Region))
	if c.NodePool != "" {
		fe.Check("node_pool", CheckName(c.NodePool))
	} else if c.Tenancy == "dedicated" {
		fe.Add("node_pool", "is required for a dedicated cloudspace")
	}
	fe.Check("ingress_domain", CheckHostname(c.IngressDomain))
	if c.IngressPort < 0 || c.IngressPort > 65535 {
		fe.Add("ingress_port", "must be a port number (1 to 65535), or 0 for 80")
	}
	fe.Check("registry", CheckHostPort(c.Registry))
	return fe
}

// CreateCloudspace adds a cloudspace. Only an administrator may.
func (s *Service) CreateCloudspace(ctx context.Context, p Principal, in Cloudspace) (Cloudspace, error) {
	if err := requireAdmin(p, "manage cloudspaces"); err != nil {
		return Cloudspace{}, err
	}
	if err := in.check().Err(); err != nil {
		return Cloudspace{}, err
	}
	return createCatalog(ctx, s, p, in, cloudspaceKey(in.Name), "cloudspace "+in.Name)
}

// GetCloudspace returns a cloudspace; every caller may read them.
func (s *Service) GetCloudspace(ctx context.Context, p Principal, name string) (Cloudspace, error) {
	return load[Cloudspace](ctx, s.KV, cloudspaceKey(name), "cloudspace "+name)
}

// ListCloudspaces returns a page of cloudspaces; every caller may read them.
func (s *Service) ListCloudspaces(ctx context.Context, p Principal, pr PageRequest) (Page[Cloudspace], error) {
	return loadPage[Cloudspace](ctx, s.KV, "cloudspaces/", pr)
}

// UpdateCloudspace changes a cloudspace. Only an administrator may.
func (s *Service) UpdateCloudspace(ctx context.Context, p Principal, name string, patch CloudspacePatch, ifMatch uint64) (Cloudspace, error) {
	if err := requireAdmin(p, "manage cloudspaces"); err != nil {
		return Cloudspace{}, err
	}
	c, err := load[Cloudspace](ctx, s.KV, cloudspaceKey(name), "cloudspace "+name)
	if err != nil {
		return Cloudspace{}, err
	}
	for _, f := range []struct {
		dst *string
		src *string
	}{
		{&c.Vendor, patch.Vendor}, {&c.Location, patch.Location}, {&c.Tenancy, patch.Tenancy}, {&c.Region, patch.Region},
		{&c.NodePool, patch.NodePool}, {&c.IngressDomain, patch.IngressDomain}, {&c.Registry, patch.Registry},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if patch.IngressPort != nil {
		c.IngressPort = *patch.IngressPort
	}
	if err := c.check().Err(); err != nil {
		return Cloudspace{}, err
	}
	return updateCatalog(ctx, s, p, c, cloudspaceKey(name), ifMatch, "cloudspace "+name)
}

// DeleteCloudspace removes a cloudspace. Only an administrator may.
func (s *Service) DeleteCloudspace(ctx context.Context, p Principal, name string, ifMatch uint64) error {
	if err := requireAdmin(p, "manage cloudspaces"); err != nil {
		return err
	}
	if err := deleteCatalog[Cloudspace](ctx, s, p, cloudspaceKey(name), ifMatch, "cloudspace "+name); err != nil {
		return err
	}
	return s.revokeAll(ctx, EntitleCloudspace, name)
}

func (l Limits) check() FieldErrors {
	var fe FieldErrors
	if l.Environments < 2 || l.Environments > 1000 {
		fe.Add("limits.environments", "must be between 2 (test and live) and 1000")
	}
	if l.InstancesPerProcess < 1 || l.InstancesPerProcess > 1000 {
		fe.Add("limits.instances_per_process", "must be between 1 and 1000")
	}
	if l.MemoryMBPerInstance < MinMemoryMB || l.MemoryMBPerInstance > MaxMemoryMB {
		fe.Add("limits.memory_mb_per_instance", "must be between %d and %d", MinMemoryMB, MaxMemoryMB)
	}
	if l.ServiceInstances < 0 || l.ServiceInstances > 100 {
		fe.Add("limits.service_instances", "must be between 0 and 100")
	}
	if l.CustomDomains < 0 || l.CustomDomains > 1000 {
		fe.Add("limits.custom_domains", "must be between 0 and 1000")
	}
	if l.UploadMB < 1 || l.UploadMB > MaxUploadMB {
		fe.Add("limits.upload_mb", "must be between 1 and %d", MaxUploadMB)
	}
	return fe
}

func (pl Plan) check() FieldErrors {
	var fe FieldErrors
	fe.Check("name", CheckName(pl.Name))
	return append(fe, pl.Limits.check()...)
}

// CreatePlan adds a plan. Only an administrator may.
func (s *Service) CreatePlan(ctx context.Context, p Principal, in Plan) (Plan, error) {
	if err := requireAdmin(p, "manage plans"); err != nil {
		return Plan{}, err
	}
	if err := in.check().Err(); err != nil {
		return Plan{}, err
	}
	return createCatalog(ctx, s, p, in, planKey(in.Name), "plan "+in.Name)
}

// GetPlan returns a plan; every caller may read them.
func (s *Service) GetPlan(ctx context.Context, p Principal, name string) (Plan, error) {
	return load[Plan](ctx, s.KV, planKey(name), "plan "+name)
}

// ListPlans returns a page of plans; every caller may read them.
func (s *Service) ListPlans(ctx context.Context, p Principal, pr PageRequest) (Page[Plan], error) {
	return loadPage[Plan](ctx, s.KV, "plans/", pr)
}

// UpdatePlan changes a plan's limits and whether it is public. Only an administrator may. Applications already
// beyond the new limits keep running as they are; their next change must fit.
func (s *Service) UpdatePlan(ctx context.Context, p Principal, name string, patch PlanPatch, ifMatch uint64) (Plan, error) {
	if err := requireAdmin(p, "manage plans"); err != nil {
		return Plan{}, err
	}
	pl, err := load[Plan](ctx, s.KV, planKey(name), "plan "+name)
	if err != nil {
		return Plan{}, err
	}
	if patch.Limits != nil {
		pl.Limits = *patch.Limits
	}
	if patch.Public != nil {
		pl.Public = *patch.Public
	}
	if err := pl.check().Err(); err != nil {
		return Plan{}, err
	}
	return updateCatalog(ctx, s, p, pl, planKey(name), ifMatch, "plan "+name)
}

// DeletePlan removes a plan. Only an administrator may.
func (s *Service) DeletePlan(ctx context.Context, p Principal, name string, ifMatch uint64) error {
	if err := requireAdmin(p, "manage plans"); err != nil {
		return err
	}
	if err := deleteCatalog[Plan](ctx, s, p, planKey(name), ifMatch, "plan "+name); err != nil {
		return err
	}
	return s.revokeAll(ctx, EntitlePlan, name)
}

func createCatalog[T any, P metaer[T]](ctx context.Context, s *Service, p Principal, v T, key, what string) (T, error) {
	if ok, err := exists(ctx, s.KV, key); err != nil {
		return v, err
	} else if ok {
		return v, Errorf(Conflict, "%s already exists", what)
	}
	m := P(&v).meta()
	*m = Meta{}
	stamp(m, s.now())
	var t txn
	t.create(key, encode(v))
	s.audit(&t, p, "", kindOf(key)+".create", key)
	if err := s.commit(ctx, &t, what); err != nil {
		return v, err
	}
	return load[T, P](ctx, s.KV, key, what)
}

func updateCatalog[T any, P metaer[T]](ctx context.Context, s *Service, p Principal, v T, key string, ifMatch uint64, what string) (T, error) {
	m := P(&v).meta()
	stamp(m, s.now())
	var t txn
	t.update(key, encode(v), casIndex(m.Index, ifMatch))
	s.audit(&t, p, "", kindOf(key)+".update", key)
	if err := s.commit(ctx, &t, what); err != nil {
		return v, err
	}
	return load[T, P](ctx, s.KV, key, what)
}

func deleteCatalog[T any, P metaer[T]](ctx context.Context, s *Service, p Principal, key string, ifMatch uint64, what string) error {
	v, err := load[T, P](ctx, s.KV, key, what)
	if err != nil {
		return err
	}
	var t txn
	t.delete(key, casIndex(P(&v).meta().Index, ifMatch))
	s.audit(&t, p, "", kindOf(key)+".delete", key)
	return s.commit(ctx, &t, what)
}

// kindOf names the kind of a catalog record by its key: "cloudspace" or "plan".
func kindOf(key string) string {
	kind, _, _ := strings.Cut(key, "/")
	return strings.TrimSuffix(kind, "s")
}
