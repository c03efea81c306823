package main

import (
	"fmt"
	"regexp"
	"strings"
)

// checkDockerfile refuses a Dockerfile whose instructions would make the node's Docker
// engine itself, on the node's own network, reach something for the build:
//
//   - ADD of a remote source. The engine fetches an ADD URL from the node, where it
//     reaches the loopback agents (ADD http://127.0.0.1:8500/v1/kv/...). Any ADD whose
//     sources hold ":" (a scheme), "$" (a variable that could expand to one) or an
//     escape character (which could spell one) is refused; COPY, and a download in a
//     RUN step (on the build's own network), remain.
//   - FROM or COPY --from of an image in a registry other than the organisation's own
//     repositories in the cloudspace's registry (own, each "host/repository"), or named
//     through a variable: the engine pulls from the node, with the node's credentials.
//     Images without a registry host (the operator's local base images) and earlier
//     stages are accepted.
//
// Instructions are found as Docker finds them (case-insensitive, after ONBUILD, across
// line continuations with either escape character), erring toward refusal.
func checkDockerfile(text string, own []string) error {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	stages := map[string]bool{}
	for i := 0; i < len(lines); i++ {
		inst, rest := instruction(lines[i])
		if inst == "" {
			continue
		}
		// The instruction's whole text, across continuation lines (comments and empty
		// lines between them are skipped, as Docker skips them).
		for last := lines[i]; continues(last) && i+1 < len(lines); {
			i++
			next := strings.TrimSpace(lines[i])
			if next == "" || strings.HasPrefix(next, "#") {
				continue
			}
			rest = strings.TrimRight(strings.TrimSpace(rest), "\\`") + " " + next
			last = next
		}
		rest = strings.TrimRight(strings.TrimSpace(rest), "\\`")
		words := strings.Fields(rest)
		switch inst {
		case "ADD":
			var srcs []string
			for _, w := range words {
				if len(srcs) == 0 && addFlag.MatchString(w) {
					continue
				}
				srcs = append(srcs, w)
			}
			if len(srcs) > 0 {
				srcs = srcs[:len(srcs)-1] // the destination
			}
			for _, s := range srcs {
				if strings.ContainsAny(s, ":$\\`[]\"") {
					return fmt.Errorf("line %d: ADD %s: remote sources (URLs, or names with ':', '$', quotes or escapes) are not fetched in Wharf builds, since the engine would fetch them from the builder node; use COPY, or download in a RUN step", i+1, s)
				}
			}
		case "FROM":
			var args []string
			for _, w := range words {
				if !strings.HasPrefix(w, "--") {
					args = append(args, w)
				}
			}
			if len(args) == 0 {
				continue
			}
			if err := checkBase(args[0], own, stages); err != nil {
				return fmt.Errorf("line %d: FROM %s: %w", i+1, args[0], err)
			}
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				stages[strings.ToLower(args[2])] = true
			}
		case "COPY":
			for _, w := range words {
				if from, ok := strings.CutPrefix(strings.ToLower(w), "--from="); ok {
					from = w[len("--from="):]
					if isNumber(from) {
						continue
					}
					if err := checkBase(from, own, stages); err != nil {
						return fmt.Errorf("line %d: COPY --from=%s: %w", i+1, from, err)
					}
				}
			}
		}
	}
	return nil
}

var addFlag = regexp.MustCompile(`^--(chown|chmod)=[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$`)

// instruction returns a line's instruction (upper case; the triggered one after
// ONBUILD) and the rest of the line, or "" for a comment or an empty line.
func instruction(line string) (string, string) {
	line = strings.TrimLeft(strings.TrimPrefix(line, "\ufeff"), " \t")
	if line == "" || strings.HasPrefix(line, "#") {
		return "", ""
	}
	word, rest, _ := strings.Cut(line, " ")
	if w, r, ok := strings.Cut(word, "\t"); ok {
		word, rest = w, r+" "+rest
	}
	word = strings.ToUpper(word)
	if word == "ONBUILD" {
		return instruction(rest)
	}
	return word, rest
}

// continues reports whether a line ends in a continuation, with either escape character.
func continues(line string) bool {
	l := strings.TrimRight(line, " \t")
	return strings.HasSuffix(l, "\\") || strings.HasSuffix(l, "`")
}

func isNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// checkBase accepts an earlier stage, a local image without a registry host, or a
// repository of own.
func checkBase(ref string, own []string, stages map[string]bool) error {
	if strings.ContainsAny(ref, "$\\`") {
		return fmt.Errorf("an image named through a variable is not accepted in Wharf builds")
	}
	if stages[strings.ToLower(ref)] || strings.EqualFold(ref, "scratch") {
		return nil
	}
	name, _, _ := strings.Cut(ref, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	first, _, ok := strings.Cut(name, "/")
	if !ok || !strings.ContainsAny(first, ".:") && first != "localhost" {
		return nil // no registry: a local base image
	}
	for _, o := range own {
		if name == o {
			return nil
		}
	}
	return fmt.Errorf("a build may start only from local base images or its organisation's own images in the cloudspace's registry")
}

// cacheScopeArg is the build argument that scopes the node's layer cache to one
// organisation.
const cacheScopeArg = "WHARF_BUILD_CACHE_SCOPE"

// scopeCache returns the Dockerfile with "ARG WHARF_BUILD_CACHE_SCOPE" after every FROM
// (after its continuation lines). The classic builder keys a RUN step's cache on its
// parent layer, its command and the declared build arguments in force, so with the
// argument set to an organisation's secret scope (--build-arg), a RUN step can reuse
// only a layer built for the same organisation: another tenant's identical step is a
// cache miss, and cannot be hit without the secret. COPY and ADD of local files are
// keyed on their content already.
func scopeCache(text string) string {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines)+4)
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		if inst, _ := instruction(lines[i]); inst != "FROM" || isOnbuild(lines[i]) {
			continue
		}
		for last := lines[i]; continues(last) && i+1 < len(lines); {
			i++
			out = append(out, lines[i])
			if next := strings.TrimSpace(lines[i]); next != "" && !strings.HasPrefix(next, "#") {
				last = next
			}
		}
		out = append(out, "ARG "+cacheScopeArg)
	}
	return strings.Join(out, "\n")
}

func isOnbuild(line string) bool {
	word, _, _ := strings.Cut(strings.TrimLeft(strings.TrimPrefix(line, "\ufeff"), " \t"), " ")
	return strings.EqualFold(word, "ONBUILD")
}
