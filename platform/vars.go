package platform

import (
	"context"
	"fmt"
	"unicode/utf8"
)

// ListVariables returns a page of an environment's variables; secret ones without
// their values.
func (s *Service) ListVariables(ctx context.Context, p Principal, ref EnvRef, pr PageRequest) (Page[Variable], error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[Variable]{}, err
	}
	if _, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env); err != nil {
		return Page[Variable]{}, err
	}
	return loadPage[Variable](ctx, s.KV, varPrefix(org, app, env), pr)
}

// GetVariable returns one variable; a secret one without its value.
func (s *Service) GetVariable(ctx context.Context, p Principal, ref EnvRef, name string) (Variable, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActRead); err != nil {
		return Variable{}, err
	}
	return load[Variable](ctx, s.KV, varKey(org, app, env, name), "variable "+name)
}

func (in VariableInput) check(name string) FieldErrors {
	var fe FieldErrors
	fe.Check("name", CheckVariableName(name))
	if len(in.Value) > MaxVariableValue {
		fe.Add("value", "must be at most %d bytes", MaxVariableValue)
	}
	if !utf8.ValidString(in.Value) {
		fe.Add("value", "must be valid UTF-8")
	}
	return fe
}

// PutVariable sets a variable, creating it when it does not exist (created is then
// true). A secret value goes to the secret store, with a check-and-set on its version,
// and only its version reaches the state store. It needs the developer role. ifMatch,
// when not zero, is the version of the variable the caller read.
func (s *Service) PutVariable(ctx context.Context, p Principal, ref EnvRef, name string, in VariableInput, ifMatch uint64) (v Variable, created bool, err error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Variable{}, false, err
	}
	if err := in.check(name).Err(); err != nil {
		return Variable{}, false, err
	}
	e, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env)
	if err != nil {
		return Variable{}, false, err
	}
	key := varKey(org, app, env, name)
	path := secretPath(org, app, env, name)
	cur, err := load[Variable](ctx, s.KV, key, "variable "+name)
	created = ErrorCode(err) == NotFound
	if err != nil && !created {
		return Variable{}, false, err
	}
	if ifMatch != 0 && (created || cur.Index != ifMatch) {
		return Variable{}, false, Errorf(Conflict, "variable %q was changed by another request; read it again and retry", name)
	}
	if in.Secret {
		return s.putSecretVariable(ctx, p, e, cur, created, name, in.Value)
	}
	next := Variable{Name: name, Value: &in.Value, Version: cur.Version + 1, Meta: cur.Meta}
	stamp(&next.Meta, s.now())
	var t txn
	if created {
		t.create(key, encode(next))
	} else {
		t.update(key, encode(next), cur.Index)
	}
	t.check(envKey(org, app, env), e.Index)
	s.audit(&t, p, org, "variable.put", key)
	if err := s.commit(ctx, &t, "variable "+name); err != nil {
		return Variable{}, false, err
	}
	if cur.Secret {
		if err := s.Secrets.DeleteSecret(ctx, path); err != nil {
			return Variable{}, false, err
		}
	}
	v, err = load[Variable](ctx, s.KV, key, "variable "+name)
	return v, created, err
}

// putSecretVariable writes a secret value. Vault's check-and-set on the version is the
// point where concurrent writers are ordered: of the writers that read one version, one
// wins. The winner then records its version in the state store, retrying against
// writers that raced on the record, until the record holds its version or a later one;
// so the state store never stays behind the value Vault serves.
func (s *Service) putSecretVariable(ctx context.Context, p Principal, e Environment, cur Variable, created bool, name, value string) (Variable, bool, error) {
	key := varKey(e.Org, e.App, e.Name, name)
	path := secretPath(e.Org, e.App, e.Name, name)
	expect := cur.Version
	if !cur.Secret {
		// A left-over value (from a delete that failed half way, or a writer racing
		// to create this variable) is overwritten, still under check-and-set.
		var err error
		if expect, err = s.Secrets.SecretVersion(ctx, path); err != nil {
			return Variable{}, false, err
		}
	}
	version, err := s.Secrets.PutSecret(ctx, path, Secret(value), expect)
	if ErrorCode(err) == Conflict {
		return Variable{}, false, Wrap(Conflict, err, fmt.Sprintf("variable %q was changed by another request; read it again and retry", name))
	} else if err != nil {
		return Variable{}, false, err
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			cur, err = load[Variable](ctx, s.KV, key, "variable "+name)
			created = ErrorCode(err) == NotFound
			if err != nil && !created {
				return Variable{}, false, err
			}
			if cur.Secret && cur.Version >= version {
				// A later writer has already recorded a later version.
				return cur, false, nil
			}
		}
		next := Variable{Name: name, Secret: true, Version: version, Meta: cur.Meta}
		stamp(&next.Meta, s.now())
		var t txn
		if created {
			t.create(key, encode(next))
		} else {
			t.update(key, encode(next), cur.Index)
		}
		t.check(envKey(e.Org, e.App, e.Name), e.Index)
		s.audit(&t, p, e.Org, "variable.put", key)
		err := s.commit(ctx, &t, "variable "+name)
		if err == nil {
			v, err := load[Variable](ctx, s.KV, key, "variable "+name)
			return v, created, err
		}
		if ErrorCode(err) != Conflict || attempt == 10 {
			return Variable{}, false, err
		}
		if e, err = load[Environment](ctx, s.KV, envKey(e.Org, e.App, e.Name), "environment "+e.Name); err != nil {
			return Variable{}, false, err
		}
	}
}

// DeleteVariable deletes a variable, and a secret one's value. It needs the developer
// role.
func (s *Service) DeleteVariable(ctx context.Context, p Principal, ref EnvRef, name string, ifMatch uint64) error {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return err
	}
	key := varKey(org, app, env, name)
	cur, err := load[Variable](ctx, s.KV, key, "variable "+name)
	if err != nil {
		return err
	}
	var t txn
	t.delete(key, casIndex(cur.Index, ifMatch))
	s.audit(&t, p, org, "variable.delete", key)
	if err := s.commit(ctx, &t, "variable "+name); err != nil {
		return err
	}
	if cur.Secret {
		return s.Secrets.DeleteSecret(ctx, secretPath(org, app, env, name))
	}
	return nil
}
