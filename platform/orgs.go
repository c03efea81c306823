package platform

import "context"

func (o Organisation) check() FieldErrors {
	var fe FieldErrors
	fe.Check("name", CheckName(o.Name))
	fe.Check("display_name", CheckText(o.DisplayName, 200))
	return fe
}

// CreateOrganisation creates an organisation whose owner is the caller. It returns
// invalid or conflict.
func (s *Service) CreateOrganisation(ctx context.Context, p Principal, in Organisation) (Organisation, error) {
	if err := in.check().Err(); err != nil {
		return Organisation{}, err
	}
	if ok, err := exists(ctx, s.KV, orgKey(in.Name)); err != nil {
		return Organisation{}, err
	} else if ok {
		return Organisation{}, Errorf(Conflict, "organisation %q already exists", in.Name)
	}
	now := s.now()
	in.Meta = Meta{}
	stamp(&in.Meta, now)
	var t txn
	t.create(orgKey(in.Name), encode(in))
	s.memberTxn(&t, Member{Org: in.Name, Person: p.Person, Role: RoleOwner}, 0, 0)
	s.audit(&t, p, in.Name, "organisation.create", orgKey(in.Name))
	if err := s.commit(ctx, &t, "organisation "+in.Name); err != nil {
		return Organisation{}, err
	}
	return load[Organisation](ctx, s.KV, orgKey(in.Name), "organisation")
}

// GetOrganisation returns an organisation the caller belongs to.
func (s *Service) GetOrganisation(ctx context.Context, p Principal, org string) (Organisation, error) {
	if err := s.authorize(ctx, p, org, "", ActRead); err != nil {
		return Organisation{}, err
	}
	return load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
}

// ListOrganisations returns a page of the organisations the caller belongs to; every
// organisation for an administrator.
func (s *Service) ListOrganisations(ctx context.Context, p Principal, pr PageRequest) (Page[Organisation], error) {
	if p.Admin {
		return loadPage[Organisation](ctx, s.KV, "orgs/", pr)
	}
	ms, err := loadPage[Member](ctx, s.KV, membershipPrefix(p.Person), pr)
	if err != nil {
		return Page[Organisation]{}, err
	}
	page := Page[Organisation]{Items: make([]Organisation, 0, len(ms.Items)), Next: ms.Next}
	for _, m := range ms.Items {
		o, err := load[Organisation](ctx, s.KV, orgKey(m.Org), "organisation")
		if ErrorCode(err) == NotFound {
			continue
		} else if err != nil {
			return Page[Organisation]{}, err
		}
		page.Items = append(page.Items, o)
	}
	return page, nil
}

// UpdateOrganisation changes an organisation; it needs the owner role. ifMatch, when not
// zero, is the version the caller read.
func (s *Service) UpdateOrganisation(ctx context.Context, p Principal, org string, patch OrganisationPatch, ifMatch uint64) (Organisation, error) {
	if err := s.authorize(ctx, p, org, "", ActOwn); err != nil {
		return Organisation{}, err
	}
	o, err := load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
	if err != nil {
		return Organisation{}, err
	}
	if patch.DisplayName != nil {
		o.DisplayName = *patch.DisplayName
	}
	if err := o.check().Err(); err != nil {
		return Organisation{}, err
	}
	stamp(&o.Meta, s.now())
	var t txn
	t.update(orgKey(org), encode(o), casIndex(o.Index, ifMatch))
	s.audit(&t, p, org, "organisation.update", orgKey(org))
	if err := s.commit(ctx, &t, "organisation "+org); err != nil {
		return Organisation{}, err
	}
	return load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
}

// DeleteOrganisation deletes an organisation that has no applications left, with its
// members and audit log; it needs the owner role.
func (s *Service) DeleteOrganisation(ctx context.Context, p Principal, org string, ifMatch uint64) error {
	if err := s.authorize(ctx, p, org, "", ActOwn); err != nil {
		return err
	}
	o, err := load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
	if err != nil {
		return err
	}
	apps, err := s.KV.List(ctx, appPrefix(org))
	if err != nil {
		return err
	}
	if len(apps) > 0 {
		return Errorf(Conflict, "organisation %q still has %d applications; delete them first", org, len(apps))
	}
	members, err := loadAll[Member](ctx, s.KV, memberPrefix(org))
	if err != nil {
		return err
	}
	var t txn
	t.delete(orgKey(org), casIndex(o.Index, ifMatch))
	for _, m := range members {
		t.deleteKey(membershipKey(m.Person, org))
	}
	t.deleteTree(memberPrefix(org))
	t.deleteTree(auditPrefix(org))
	// An organisation made later under this name is entitled afresh.
	t.deleteTree(entitlementPrefix(org))
	// An application created since the check above goes with the organisation, all of
	// it, rather than be left behind without one.
	for _, prefix := range []string{"apps/", "envs/", "vars/", "collaborators/"} {
		t.deleteTree(prefix + org + "/")
	}
	return s.commit(ctx, &t, "organisation "+org)
}

// memberTxn adds writing m (and its index under the person) to t: a create when index
// is 0, else an update of the records at index and membershipIndex.
func (s *Service) memberTxn(t *txn, m Member, index, membershipIndex uint64) {
	stamp(&m.Meta, s.now())
	if index == 0 {
		t.create(memberKey(m.Org, m.Person), encode(m))
		t.create(membershipKey(m.Person, m.Org), encode(m))
		return
	}
	t.update(memberKey(m.Org, m.Person), encode(m), index)
	t.update(membershipKey(m.Person, m.Org), encode(m), membershipIndex)
}

// ListMembers returns a page of org's members.
func (s *Service) ListMembers(ctx context.Context, p Principal, org string, pr PageRequest) (Page[Member], error) {
	if err := s.authorize(ctx, p, org, "", ActRead); err != nil {
		return Page[Member]{}, err
	}
	return loadPage[Member](ctx, s.KV, memberPrefix(org), pr)
}

// PutMember gives person role in org, adding them when they are not a member. It needs
// the admin role, and the owner role to grant or take away ownership. An organisation
// always keeps an owner. It returns invalid, not_found, forbidden or conflict.
func (s *Service) PutMember(ctx context.Context, p Principal, org, person string, role Role) (Member, error) {
	var fe FieldErrors
	if !role.Valid() {
		fe.Add("role", "must be one of owner, admin, developer, viewer")
	}
	if err := fe.Err(); err != nil {
		return Member{}, err
	}
	return s.changeMember(ctx, p, org, resolve(p, person), &role)
}

// DeleteMember removes person from org, under the same rules as PutMember.
func (s *Service) DeleteMember(ctx context.Context, p Principal, org, person string) error {
	_, err := s.changeMember(ctx, p, org, resolve(p, person), nil)
	return err
}

// changeMember sets person's role in org, or removes them when role is nil. Every
// change rewrites the organisation record too, so changes to the owners are serialised
// and the last owner cannot be removed by two requests at once.
func (s *Service) changeMember(ctx context.Context, p Principal, org, person string, role *Role) (Member, error) {
	if err := s.authorize(ctx, p, org, "", ActManage); err != nil {
		return Member{}, err
	}
	o, err := load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
	if err != nil {
		return Member{}, err
	}
	if _, err := load[Person](ctx, s.KV, personKey(person), "person "+person); err != nil {
		return Member{}, err
	}
	members, err := loadAll[Member](ctx, s.KV, memberPrefix(org))
	if err != nil {
		return Member{}, err
	}
	var current *Member
	owners := 0
	for i, m := range members {
		if m.Role == RoleOwner {
			owners++
		}
		if m.Person == person {
			current = &members[i]
		}
	}
	if current == nil && role == nil {
		return Member{}, Errorf(NotFound, "%q is not a member of %q", person, org)
	}
	touchesOwner := (role != nil && *role == RoleOwner) || (current != nil && current.Role == RoleOwner)
	if touchesOwner {
		if err := s.authorize(ctx, p, org, "", ActOwn); err != nil {
			return Member{}, err
		}
	}
	if current != nil && current.Role == RoleOwner && owners == 1 && (role == nil || *role != RoleOwner) {
		return Member{}, Errorf(Conflict, "%q is the last owner of %q; make someone else owner first", person, org)
	}
	stamp(&o.Meta, s.now())
	var t txn
	t.update(orgKey(org), encode(o), o.Index)
	var out Member
	switch {
	case role == nil:
		t.delete(memberKey(org, person), current.Index)
		t.deleteKey(membershipKey(person, org))
		s.audit(&t, p, org, "member.delete", memberKey(org, person))
	case current == nil:
		out = Member{Org: org, Person: person, Role: *role}
		s.memberTxn(&t, out, 0, 0)
		s.audit(&t, p, org, "member.create", memberKey(org, person))
	default:
		ms, err := load[Member](ctx, s.KV, membershipKey(person, org), "membership")
		if err != nil {
			return Member{}, err
		}
		out = *current
		out.Role = *role
		s.memberTxn(&t, out, current.Index, ms.Index)
		s.audit(&t, p, org, "member.update", memberKey(org, person))
	}
	if err := s.commit(ctx, &t, "organisation "+org); err != nil {
		return Member{}, err
	}
	if role == nil {
		return Member{}, nil
	}
	return load[Member](ctx, s.KV, memberKey(org, person), "member")
}
