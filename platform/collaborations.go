package platform

import "context"

// ListMyCollaborations returns the applications the caller collaborates on without
// (necessarily) being a member of their organisation, so a collaborator can find them.
func (s *Service) ListMyCollaborations(ctx context.Context, p Principal) ([]Collaborator, error) {
	if p.Person == "" {
		return nil, Errorf(Unauthorized, "no caller")
	}
	recs, err := s.KV.List(ctx, collaborationPrefix(p.Person))
	if err != nil {
		return nil, err
	}
	out := make([]Collaborator, 0, len(recs))
	for _, r := range recs {
		c, err := decode[Collaborator](r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}
