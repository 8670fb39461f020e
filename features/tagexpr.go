package features

// tagexpr.go: Cucumber tag expressions (https://cucumber.io/docs/cucumber/api/#tag-expressions):
// tags combined with "not", "and", "or" and parentheses, e.g.
// "@login and not (@reference or @slow)". godog's older spelling ("~", "&&"
// and "," for not, and, or) is accepted too, so both can be mixed.
//
// godog v0.16 filters only with an OR of ANDs of possibly negated tags and
// no parentheses, so an expression is parsed here, turned into that
// disjunctive normal form for godog, and evaluated against the suite's own
// scenarios first: an expression that selects nothing (a typo in a tag) is
// an error, not an empty green run.

import (
	"fmt"
	"slices"
	"strings"
)

// tagExpr is a parsed tag expression.
type tagExpr interface {
	// match reports whether a scenario with these tags (without "@") is selected.
	match(tags []string) bool
	// dnf returns the expression as an OR of ANDs of literals; negate asks
	// for the DNF of its negation (De Morgan), so "not" needs no node of its own.
	dnf(negate bool) [][]tagLit
}

// tagLit is a tag or its negation.
type tagLit struct {
	name string // without "@"
	not  bool
}

type tagOp struct {
	and  bool // and: both; else or: either
	l, r tagExpr
}

type tagNot struct{ x tagExpr }

func (l tagLit) match(tags []string) bool { return slices.Contains(tags, l.name) != l.not }

func (n tagNot) match(tags []string) bool { return !n.x.match(tags) }

func (o tagOp) match(tags []string) bool {
	if o.and {
		return o.l.match(tags) && o.r.match(tags)
	}
	return o.l.match(tags) || o.r.match(tags)
}

func (l tagLit) dnf(negate bool) [][]tagLit {
	return [][]tagLit{{tagLit{l.name, l.not != negate}}}
}

func (n tagNot) dnf(negate bool) [][]tagLit { return n.x.dnf(!negate) }

func (o tagOp) dnf(negate bool) [][]tagLit {
	l, r := o.l.dnf(negate), o.r.dnf(negate)
	if o.and == negate { // or, or a negated and: either side
		return append(l, r...)
	}
	var out [][]tagLit // and, or a negated or: every pair
	for _, a := range l {
		for _, b := range r {
			if len(out) > maxTagTerms { // enough to be refused; stop growing
				return out
			}
			out = append(out, append(slices.Clip(a), b...))
		}
	}
	return out
}

// maxTagTerms bounds the DNF handed to godog (each AND of (not) X is a term).
const maxTagTerms = 64

// parseTagExpr parses a Cucumber tag expression: not binds tighter than and,
// and tighter than or; parentheses group.
func parseTagExpr(s string) (tagExpr, error) {
	toks, err := tagTokens(s)
	if err != nil {
		return nil, err
	}
	p := &tagParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("unexpected %q after a complete expression", p.toks[p.i])
	}
	return e, nil
}

// tagTokens splits an expression into "(", ")", operators (normalised to
// "not", "and", "or") and tags.
func tagTokens(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, string(c))
			i++
		case c == ',':
			toks = append(toks, "or")
			i++
		case c == '~' || c == '!':
			toks = append(toks, "not")
			i++
		case strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, "and")
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n(),~!&", rune(s[j])) {
				j++
			}
			if j == i { // a lone "&"
				return nil, fmt.Errorf("unexpected %q (use and, or, not, or &&)", s[i:i+1])
			}
			word := s[i:j]
			switch strings.ToLower(word) {
			case "and", "or", "not":
				toks = append(toks, strings.ToLower(word))
			default:
				if !strings.HasPrefix(word, "@") || len(word) == 1 {
					return nil, fmt.Errorf("%q is not a tag: tags start with @ (e.g. @CA-QUOTA)", word)
				}
				toks = append(toks, word)
			}
			i = j
		}
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("it is empty")
	}
	return toks, nil
}

type tagParser struct {
	toks []string
	i    int
}

func (p *tagParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *tagParser) or() (tagExpr, error) {
	l, err := p.and()
	for err == nil && p.peek() == "or" {
		p.i++
		var r tagExpr
		if r, err = p.and(); err == nil {
			l = tagOp{and: false, l: l, r: r}
		}
	}
	return l, err
}

func (p *tagParser) and() (tagExpr, error) {
	l, err := p.unary()
	for err == nil && p.peek() == "and" {
		p.i++
		var r tagExpr
		if r, err = p.unary(); err == nil {
			l = tagOp{and: true, l: l, r: r}
		}
	}
	return l, err
}

func (p *tagParser) unary() (tagExpr, error) {
	switch t := p.peek(); t {
	case "":
		return nil, fmt.Errorf("it ends where a tag was expected")
	case "not":
		p.i++
		x, err := p.unary()
		return tagNot{x}, err
	case "(":
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("a ( is not closed")
		}
		p.i++
		return x, nil
	case ")", "and", "or":
		return nil, fmt.Errorf("unexpected %q where a tag was expected", t)
	default:
		p.i++
		return tagLit{name: strings.TrimPrefix(t, "@")}, nil
	}
}

// tagSelection is a parsed --tags expression with the @reference rule applied.
type tagSelection struct {
	expr      tagExpr // nil: every scenario
	reference bool    // @reference scenarios may run
}

// selects reports whether a scenario with these tags (without "@") runs.
func (s tagSelection) selects(tags []string) bool {
	if !s.reference && slices.Contains(tags, "reference") {
		return false
	}
	return s.expr == nil || s.expr.match(tags)
}

// godogFilter returns the selection in godog's syntax ("a && ~b,c"): the
// DNF of the expression, each term also excluding @reference unless
// reference scenarios may run. Contradictory terms (x and not x) are
// dropped; an expression with no satisfiable term is an error.
func (s tagSelection) godogFilter() (string, error) {
	if s.expr == nil {
		if s.reference {
			return "", nil
		}
		return "~@reference", nil
	}
	terms := s.expr.dnf(false)
	if len(terms) > maxTagTerms {
		return "", fmt.Errorf("it expands to %d alternatives (at most %d): simplify it", len(terms), maxTagTerms)
	}
	var alts []string
	for _, term := range terms {
		if !s.reference {
			term = append(slices.Clip(term), tagLit{name: "reference", not: true})
		}
		if alt, ok := godogTerm(term); ok && !slices.Contains(alts, alt) {
			alts = append(alts, alt)
		}
	}
	if len(alts) == 0 {
		if !s.reference {
			return "", fmt.Errorf("it can only select @reference scenarios, which run only against certlab's platform (a target with admin_token)")
		}
		return "", fmt.Errorf("it can never be true")
	}
	return strings.Join(alts, ","), nil
}

// godogTerm formats one AND of literals; ok is false when it is contradictory.
func godogTerm(term []tagLit) (string, bool) {
	seen := map[string]bool{} // name -> not
	var parts []string
	for _, l := range term {
		if not, dup := seen[l.name]; dup {
			if not != l.not {
				return "", false
			}
			continue
		}
		seen[l.name] = l.not
		p := "@" + l.name
		if l.not {
			p = "~" + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " && "), true
}

// tagNamesOf lists the tags (without "@") an expression mentions, in order.
func tagNamesOf(e tagExpr) []string {
	var names []string
	var walk func(tagExpr)
	walk = func(e tagExpr) {
		switch x := e.(type) {
		case tagLit:
			if !slices.Contains(names, x.name) {
				names = append(names, x.name)
			}
		case tagNot:
			walk(x.x)
		case tagOp:
			walk(x.l)
			walk(x.r)
		}
	}
	walk(e)
	return names
}

// closestTag returns the known tag nearest to name (edit distance, case
// folded) when it is close enough to be a likely typo.
func closestTag(name string, known []string) (string, bool) {
	best, bestD := "", len(name)/2+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best, best != ""
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
