package platform

import (
	"context"
	"fmt"
	"slices"
	"sort"
)

// Bounds on an environment's processes.
const (
	MinMemoryMB     = 16
	MaxMemoryMB     = 1 << 20
	DefaultMemoryMB = 256
	maxProcesses    = 20
	maxServices     = 50
)

func (a Application) check() FieldErrors {
	var fe FieldErrors
	fe.Check("name", CheckName(a.Name))
	fe.Check("cloudspace", CheckName(a.Cloudspace))
	fe.Check("plan", CheckName(a.Plan))
	return fe
}

// normalise fills defaults: an empty process map and service list, and the default
// memory for processes that name none.
func (e *Environment) normalise() {
	if e.Processes == nil {
		e.Processes = map[string]ProcessScale{}
	}
	for name, p := range e.Processes {
		if p.MemoryMB == 0 {
			p.MemoryMB = DefaultMemoryMB
			e.Processes[name] = p
		}
	}
	if e.Services == nil {
		e.Services = []ServiceInstance{}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (e Environment) check() FieldErrors {
	var fe FieldErrors
	fe.Check("name", CheckName(e.Name))
	if len(e.Processes) > maxProcesses {
		fe.Add("processes", "must name at most %d processes", maxProcesses)
	}
	for _, name := range sortedKeys(e.Processes) {
		p := e.Processes[name]
		field := "processes." + name
		if msg := CheckName(name); msg != "" {
			fe.Add("processes", "process name %q %s", name, msg)
			continue
		}
		if p.Instances < 0 || p.Instances > 1000 {
			fe.Add(field+".instances", "must be between 0 and 1000")
		}
		if p.MemoryMB < MinMemoryMB || p.MemoryMB > MaxMemoryMB {
			fe.Add(field+".memory_mb", "must be between %d and %d", MinMemoryMB, MaxMemoryMB)
		}
	}
	if len(e.Services) > maxServices {
		fe.Add("services", "must list at most %d services", maxServices)
	}
	seen := map[string]bool{}
	for i, svc := range e.Services {
		field := fmt.Sprintf("services[%d]", i)
		fe.Check(field+".name", CheckName(svc.Name))
		if seen[svc.Name] {
			fe.Add(field+".name", "is used twice")
		}
		seen[svc.Name] = true
		if svc.Kind != ServicePostgres && svc.Kind != ServiceStorage {
			fe.Add(field+".kind", "must be %s or %s", ServicePostgres, ServiceStorage)
		}
	}
	return fe
}

// limitErr returns a limit_exceeded error naming what goes beyond plan's limits in e,
// or nil.
func limitErr(plan Plan, e Environment) error {
	var fe FieldErrors
	for _, name := range sortedKeys(e.Processes) {
		p := e.Processes[name]
		if p.Instances > plan.Limits.InstancesPerProcess {
			fe.Add("processes."+name+".instances", "exceeds the plan %q limit of %d instances per process", plan.Name, plan.Limits.InstancesPerProcess)
		}
		if p.MemoryMB > plan.Limits.MemoryMBPerInstance {
			fe.Add("processes."+name+".memory_mb", "exceeds the plan %q limit of %d MB per instance", plan.Name, plan.Limits.MemoryMBPerInstance)
		}
	}
	if len(e.Services) > plan.Limits.ServiceInstances {
		fe.Add("services", "exceeds the plan %q limit of %d service instances", plan.Name, plan.Limits.ServiceInstances)
	}
	if len(fe) == 0 {
		return nil
	}
	return &Error{Code: LimitExceeded, Message: "the plan's limits refuse this: " + fe.Error(), Err: fe}
}

// CreateApplication creates an application with its test and live environments, all in
// one transaction. It needs the admin role, and the organisation must be entitled to the
// plan (unless it is public) and the cloudspace (when it is dedicated). It returns
// invalid (also for a cloudspace or plan that does not exist), not_found, forbidden or
// conflict.
func (s *Service) CreateApplication(ctx context.Context, p Principal, org string, in Application) (Application, error) {
	if err := s.authorize(ctx, p, org, "", ActManage); err != nil {
		return Application{}, err
	}
	if err := in.check().Err(); err != nil {
		return Application{}, err
	}
	var fe FieldErrors
	cs, err := load[Cloudspace](ctx, s.KV, cloudspaceKey(in.Cloudspace), "cloudspace")
	if ErrorCode(err) == NotFound {
		fe.Add("cloudspace", "%q does not exist", in.Cloudspace)
	} else if err != nil {
		return Application{}, err
	}
	plan, err := load[Plan](ctx, s.KV, planKey(in.Plan), "plan")
	if ErrorCode(err) == NotFound {
		fe.Add("plan", "%q does not exist", in.Plan)
	} else if err != nil {
		return Application{}, err
	}
	if err := fe.Err(); err != nil {
		return Application{}, err
	}
	var t txn
	if err := s.entitled(ctx, &t, org, &plan, &cs); err != nil {
		return Application{}, err
	}
	if ok, err := exists(ctx, s.KV, appKey(org, in.Name)); err != nil {
		return Application{}, err
	} else if ok {
		return Application{}, Errorf(Conflict, "application %q already exists in %q", in.Name, org)
	}
	o, err := load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
	if err != nil {
		return Application{}, err
	}
	now := s.now()
	app := Application{Org: org, Name: in.Name, Cloudspace: in.Cloudspace, Plan: in.Plan, Environments: []string{EnvLive, EnvTest}}
	stamp(&app.Meta, now)
	t.create(appKey(org, app.Name), encode(app))
	t.check(orgKey(org), o.Index)
	for _, name := range app.Environments {
		env := Environment{Org: org, App: app.Name, Name: name}
		env.normalise()
		stamp(&env.Meta, now)
		t.create(envKey(org, app.Name, name), encode(env))
	}
	s.audit(&t, p, org, "application.create", appKey(org, app.Name))
	if err := s.commit(ctx, &t, "application "+app.Name); err != nil {
		return Application{}, err
	}
	return load[Application](ctx, s.KV, appKey(org, app.Name), "application "+app.Name)
}

// GetApplication returns an application.
func (s *Service) GetApplication(ctx context.Context, p Principal, org, app string) (Application, error) {
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return Application{}, err
	}
	return load[Application](ctx, s.KV, appKey(org, app), "application "+app)
}

// ListApplications returns a page of org's applications.
func (s *Service) ListApplications(ctx context.Context, p Principal, org string, pr PageRequest) (Page[Application], error) {
	if err := s.authorize(ctx, p, org, "", ActRead); err != nil {
		return Page[Application]{}, err
	}
	return loadPage[Application](ctx, s.KV, appPrefix(org), pr)
}

// UpdateApplication changes an application's plan; it needs the admin role. The new
// plan must fit every environment the application has, and be public or one the
// organisation is entitled to (forbidden otherwise).
func (s *Service) UpdateApplication(ctx context.Context, p Principal, org, name string, patch ApplicationPatch, ifMatch uint64) (Application, error) {
	if err := s.authorize(ctx, p, org, name, ActManage); err != nil {
		return Application{}, err
	}
	app, err := load[Application](ctx, s.KV, appKey(org, name), "application "+name)
	if err != nil {
		return Application{}, err
	}
	var t txn
	if patch.Plan != nil {
		var fe FieldErrors
		fe.Check("plan", CheckName(*patch.Plan))
		if err := fe.Err(); err != nil {
			return Application{}, err
		}
		plan, err := load[Plan](ctx, s.KV, planKey(*patch.Plan), "plan")
		if ErrorCode(err) == NotFound {
			fe.Add("plan", "%q does not exist", *patch.Plan)
			return Application{}, fe.Err()
		} else if err != nil {
			return Application{}, err
		}
		if len(app.Environments) > plan.Limits.Environments {
			return Application{}, Errorf(LimitExceeded, "application %q has %d environments, more than plan %q allows (%d)", name, len(app.Environments), plan.Name, plan.Limits.Environments)
		}
		envs, err := loadAll[Environment](ctx, s.KV, envPrefix(org, name))
		if err != nil {
			return Application{}, err
		}
		for _, env := range envs {
			if err := limitErr(plan, env); err != nil {
				return Application{}, err
			}
			t.check(envKey(org, name, env.Name), env.Index)
		}
		if plan.Name != app.Plan {
			if err := s.entitled(ctx, &t, org, &plan, nil); err != nil {
				return Application{}, err
			}
		}
		t.check(planKey(plan.Name), plan.Index)
		app.Plan = plan.Name
	}
	stamp(&app.Meta, s.now())
	t.update(appKey(org, name), encode(app), casIndex(app.Index, ifMatch))
	s.audit(&t, p, org, "application.update", appKey(org, name))
	if err := s.commit(ctx, &t, "application "+name); err != nil {
		return Application{}, err
	}
	return load[Application](ctx, s.KV, appKey(org, name), "application "+name)
}

// DeleteApplication deletes an application with its environments, variables and
// collaborators in one transaction, then its secret values. It needs the admin role.
func (s *Service) DeleteApplication(ctx context.Context, p Principal, org, name string, ifMatch uint64) error {
	if err := s.authorize(ctx, p, org, "", ActManage); err != nil {
		return err
	}
	app, err := load[Application](ctx, s.KV, appKey(org, name), "application "+name)
	if err != nil {
		return err
	}
	prefix := "vars/" + org + "/" + name + "/"
	vars, err := s.KV.List(ctx, prefix)
	if err != nil {
		return err
	}
	collabs, err := loadAll[Collaborator](ctx, s.KV, collabPrefix(org, name))
	if err != nil {
		return err
	}
	var t txn
	t.delete(appKey(org, name), casIndex(app.Index, ifMatch))
	for _, c := range collabs {
		t.deleteKey(collaborationKey(c.Person, org, name))
	}
	t.deleteTree(envPrefix(org, name))
	t.deleteTree(prefix)
	t.deleteTree(collabPrefix(org, name))
	s.audit(&t, p, org, "application.delete", appKey(org, name))
	if err := s.commit(ctx, &t, "application "+name); err != nil {
		return err
	}
	return s.deleteSecrets(ctx, vars, "vars/")
}

// deleteSecrets removes the secret values of the variable records recs, whose keys
// start with prefix followed by org/app/env/name.
func (s *Service) deleteSecrets(ctx context.Context, recs []Record, prefix string) error {
	for _, r := range recs {
		v, err := decode[Variable](r)
		if err != nil {
			return err
		}
		if v.Secret {
			if err := s.Secrets.DeleteSecret(ctx, r.Key[len(prefix):]); err != nil {
				return err
			}
		}
	}
	return nil
}

// ListCollaborators returns a page of an application's collaborators.
func (s *Service) ListCollaborators(ctx context.Context, p Principal, org, app string, pr PageRequest) (Page[Collaborator], error) {
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[Collaborator]{}, err
	}
	if _, err := load[Application](ctx, s.KV, appKey(org, app), "application "+app); err != nil {
		return Page[Collaborator]{}, err
	}
	return loadPage[Collaborator](ctx, s.KV, collabPrefix(org, app), pr)
}

// PutCollaborator gives person role (viewer or developer) on one application. It needs
// the admin role in the organisation.
func (s *Service) PutCollaborator(ctx context.Context, p Principal, org, app, person string, role Role) (Collaborator, error) {
	if err := s.authorize(ctx, p, org, "", ActManage); err != nil {
		return Collaborator{}, err
	}
	var fe FieldErrors
	if role != RoleViewer && role != RoleDeveloper {
		fe.Add("role", "must be viewer or developer")
	}
	if err := fe.Err(); err != nil {
		return Collaborator{}, err
	}
	a, err := load[Application](ctx, s.KV, appKey(org, app), "application "+app)
	if err != nil {
		return Collaborator{}, err
	}
	if _, err := load[Person](ctx, s.KV, personKey(person), "person "+person); err != nil {
		return Collaborator{}, err
	}
	c, err := load[Collaborator](ctx, s.KV, collabKey(org, app, person), "collaborator")
	var t txn
	switch ErrorCode(err) {
	case NotFound:
		c = Collaborator{Org: org, App: app, Person: person, Role: role}
		stamp(&c.Meta, s.now())
		t.create(collabKey(org, app, person), encode(c))
		t.create(collaborationKey(person, org, app), encode(c))
	case "":
		c.Role = role
		stamp(&c.Meta, s.now())
		t.update(collabKey(org, app, person), encode(c), c.Index)
	default:
		return Collaborator{}, err
	}
	t.check(appKey(org, app), a.Index)
	s.audit(&t, p, org, "collaborator.put", collabKey(org, app, person))
	if err := s.commit(ctx, &t, "application "+app); err != nil {
		return Collaborator{}, err
	}
	return load[Collaborator](ctx, s.KV, collabKey(org, app, person), "collaborator")
}

// DeleteCollaborator takes away person's role on one application. It needs the admin
// role in the organisation.
func (s *Service) DeleteCollaborator(ctx context.Context, p Principal, org, app, person string) error {
	if err := s.authorize(ctx, p, org, "", ActManage); err != nil {
		return err
	}
	c, err := load[Collaborator](ctx, s.KV, collabKey(org, app, person), "collaborator "+person)
	if err != nil {
		return err
	}
	var t txn
	t.delete(collabKey(org, app, person), c.Index)
	t.deleteKey(collaborationKey(person, org, app))
	s.audit(&t, p, org, "collaborator.delete", collabKey(org, app, person))
	return s.commit(ctx, &t, "collaborator "+person)
}

// ListEnvironments returns a page of an application's environments.
func (s *Service) ListEnvironments(ctx context.Context, p Principal, org, app string, pr PageRequest) (Page[Environment], error) {
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[Environment]{}, err
	}
	if _, err := load[Application](ctx, s.KV, appKey(org, app), "application "+app); err != nil {
		return Page[Environment]{}, err
	}
	return loadPage[Environment](ctx, s.KV, envPrefix(org, app), pr)
}

// GetEnvironment returns one environment.
func (s *Service) GetEnvironment(ctx context.Context, p Principal, ref EnvRef) (Environment, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return Environment{}, err
	}
	return load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env)
}

// appAndPlan loads an application and its plan.
func (s *Service) appAndPlan(ctx context.Context, org, app string) (Application, Plan, error) {
	a, err := load[Application](ctx, s.KV, appKey(org, app), "application "+app)
	if err != nil {
		return a, Plan{}, err
	}
	plan, err := load[Plan](ctx, s.KV, planKey(a.Plan), "plan "+a.Plan)
	if ErrorCode(err) == NotFound {
		return a, plan, Errorf(Conflict, "application %q is on plan %q, which no longer exists; choose another plan", app, a.Plan)
	}
	return a, plan, err
}

// CreateEnvironment adds a custom environment to an application, within its plan's
// limits. It needs the developer role.
func (s *Service) CreateEnvironment(ctx context.Context, p Principal, org, app string, in Environment) (Environment, error) {
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Environment{}, err
	}
	in.Org, in.App, in.Meta = org, app, Meta{}
	in.normalise()
	if err := in.check().Err(); err != nil {
		return Environment{}, err
	}
	a, plan, err := s.appAndPlan(ctx, org, app)
	if err != nil {
		return Environment{}, err
	}
	if slices.Contains(a.Environments, in.Name) {
		return Environment{}, Errorf(Conflict, "environment %q already exists", in.Name)
	}
	if len(a.Environments) >= plan.Limits.Environments {
		return Environment{}, Errorf(LimitExceeded, "plan %q allows %d environments per application, and %q has them all", plan.Name, plan.Limits.Environments, app)
	}
	if err := limitErr(plan, in); err != nil {
		return Environment{}, err
	}
	now := s.now()
	stamp(&in.Meta, now)
	a.Environments = append(a.Environments, in.Name)
	sort.Strings(a.Environments)
	stamp(&a.Meta, now)
	var t txn
	t.update(appKey(org, app), encode(a), a.Index)
	t.check(planKey(plan.Name), plan.Index)
	t.create(envKey(org, app, in.Name), encode(in))
	s.audit(&t, p, org, "environment.create", envKey(org, app, in.Name))
	if err := s.commit(ctx, &t, "application "+app); err != nil {
		return Environment{}, err
	}
	return load[Environment](ctx, s.KV, envKey(org, app, in.Name), "environment "+in.Name)
}

// UpdateEnvironment changes an environment's processes or services, within the plan's
// limits. It needs the developer role.
func (s *Service) UpdateEnvironment(ctx context.Context, p Principal, ref EnvRef, patch EnvironmentPatch, ifMatch uint64) (Environment, error) {
	org, app, name := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Environment{}, err
	}
	a, plan, err := s.appAndPlan(ctx, org, app)
	if err != nil {
		return Environment{}, err
	}
	env, err := load[Environment](ctx, s.KV, envKey(org, app, name), "environment "+name)
	if err != nil {
		return Environment{}, err
	}
	if patch.Processes != nil {
		env.Processes = *patch.Processes
	}
	if patch.Services != nil {
		env.Services = *patch.Services
	}
	env.normalise()
	if err := env.check().Err(); err != nil {
		return Environment{}, err
	}
	if err := limitErr(plan, env); err != nil {
		return Environment{}, err
	}
	stamp(&env.Meta, s.now())
	var t txn
	t.update(envKey(org, app, name), encode(env), casIndex(env.Index, ifMatch))
	t.check(appKey(org, app), a.Index)
	t.check(planKey(plan.Name), plan.Index)
	s.audit(&t, p, org, "environment.update", envKey(org, app, name))
	if err := s.commit(ctx, &t, "environment "+name); err != nil {
		return Environment{}, err
	}
	return load[Environment](ctx, s.KV, envKey(org, app, name), "environment "+name)
}

// DeleteEnvironment deletes a custom environment and its variables; test and live stay
// as long as their application. It needs the developer role.
func (s *Service) DeleteEnvironment(ctx context.Context, p Principal, ref EnvRef, ifMatch uint64) error {
	org, app, name := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return err
	}
	env, err := load[Environment](ctx, s.KV, envKey(org, app, name), "environment "+name)
	if err != nil {
		return err
	}
	if name == EnvTest || name == EnvLive {
		return Errorf(Conflict, "the %s environment cannot be deleted; delete the application instead", name)
	}
	a, err := load[Application](ctx, s.KV, appKey(org, app), "application "+app)
	if err != nil {
		return err
	}
	vars, err := s.KV.List(ctx, varPrefix(org, app, name))
	if err != nil {
		return err
	}
	a.Environments = slices.DeleteFunc(a.Environments, func(e string) bool { return e == name })
	stamp(&a.Meta, s.now())
	var t txn
	t.update(appKey(org, app), encode(a), a.Index)
	t.delete(envKey(org, app, name), casIndex(env.Index, ifMatch))
	t.deleteTree(varPrefix(org, app, name))
	s.audit(&t, p, org, "environment.delete", envKey(org, app, name))
	if err := s.commit(ctx, &t, "environment "+name); err != nil {
		return err
	}
	return s.deleteSecrets(ctx, vars, "vars/")
}
