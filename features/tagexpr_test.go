package features

import (
	"strings"
	"testing"
)

func TestTagExpressionGodogFilter(t *testing.T) {
	tests := []struct {
		name, expr string
		reference  bool
		want       string // godog filter; "" with wantErr
		wantErr    string // substring of the error
	}{
		{"empty, reference", "", true, "", ""},
		{"empty, no reference", "", false, "~@reference", ""},
		{"godog or", "@CA-QUOTA,@PROTO-MQTT-ONLY", false, "@CA-QUOTA && ~@reference,@PROTO-MQTT-ONLY && ~@reference", ""},
		{"godog and with spaces", " @login &&  ~@quota ", true, "@login && ~@quota", ""},
		{"cucumber not", "not @reference", true, "~@reference", ""},
		{"cucumber and/or precedence", "@a or @b and @c", true, "@a,@b && @c", ""},
		{"parentheses", "(@a or @b) and not @c", true, "@a && ~@c,@b && ~@c", ""},
		{"de morgan", "not (@a and @b)", true, "~@a,~@b", ""},
		{"double negation", "not not @a", true, "@a", ""},
		{"keywords in capitals", "@a AND NOT @b", true, "@a && ~@b", ""},
		{"contradiction dropped", "(@a and not @a) or @b", true, "@b", ""},
		{"duplicate literal merged", "@a and @a", true, "@a", ""},
		{"reference excluded per term", "@a or @b", false, "@a && ~@reference,@b && ~@reference", ""},
		{"only reference without reference", "@reference", false, "", "only select @reference"},
		{"never true", "@a and not @a", true, "", "never be true"},
		{"empty term", "@login && ", false, "", "ends where a tag"},
		{"unclosed", "(@a or @b", true, "", "not closed"},
		{"stray close", "@a)", true, "", `unexpected ")"`},
		{"word without @", "login", true, "", "not a tag"},
		{"lone ampersand", "@a & @b", true, "", `unexpected "&"`},
		{"operator first", "and @a", true, "", "unexpected"},
		{"too many terms", strings.Repeat("(@a or @b) and ", 7) + "@c", true, "", "alternatives"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel := tagSelection{reference: tc.reference}
			var err error
			if strings.TrimSpace(tc.expr) != "" {
				sel.expr, err = parseTagExpr(tc.expr)
			}
			got := ""
			if err == nil {
				got, err = sel.godogFilter()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%q: got %q, error %v; want an error containing %q", tc.expr, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("%q: got %q, error %v; want %q", tc.expr, got, err, tc.want)
			}
		})
	}
}

// TestTagExpressionMatchesItsFilter checks that the godog filter selects
// exactly the scenarios the expression itself matches, on every tag set
// over the expression's tags.
func TestTagExpressionMatchesItsFilter(t *testing.T) {
	exprs := []string{
		"@a", "not @a", "@a and @b", "@a or @b", "not (@a or @b) and @c",
		"(@a or not @b) and (@c or @a)", "@a,@b && ~@c", "not (not @a and (@b or not @c))",
	}
	names := []string{"a", "b", "c"}
	for _, expr := range exprs {
		e, err := parseTagExpr(expr)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		filter, err := tagSelection{expr: e, reference: true}.godogFilter()
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		for mask := 0; mask < 1<<len(names); mask++ {
			var tags []string
			for i, n := range names {
				if mask&(1<<i) != 0 {
					tags = append(tags, n)
				}
			}
			if got, want := godogMatch(filter, tags), e.match(tags); got != want {
				t.Errorf("%q (filter %q) on %v: godog %v, expression %v", expr, filter, tags, got, want)
			}
		}
	}
}

// godogMatch evaluates a filter the way godog v0.16 does (internal/tags).
func godogMatch(filter string, tags []string) bool {
	for _, alt := range strings.Split(filter, ",") {
		ok := true
		for _, term := range strings.Split(alt, "&&") {
			term = strings.TrimSpace(term)
			not := strings.HasPrefix(term, "~")
			name := strings.TrimPrefix(strings.TrimPrefix(term, "~"), "@")
			has := false
			for _, t := range tags {
				has = has || t == name
			}
			ok = ok && has != not
		}
		if ok {
			return true
		}
	}
	return false
}

func TestSelectScenarios(t *testing.T) {
	all, err := selectScenarios("", true)
	if err != nil || all.Total == 0 {
		t.Fatalf("every scenario: %+v, %v", all, err)
	}
	noRef, err := selectScenarios("", false)
	if err != nil || noRef.Total >= all.Total || noRef.Total == 0 {
		t.Fatalf("without @reference: %d of %d, %v", noRef.Total, all.Total, err)
	}
	quota, err := selectScenarios("@CA-QUOTA", true)
	if err != nil || quota.Total == 0 || quota.Total >= all.Total || quota.PerURI["ca/quota.feature"] == 0 {
		t.Fatalf("@CA-QUOTA: %+v, %v", quota, err)
	}
	notQuota, err := selectScenarios("not @CA-QUOTA", true)
	if err != nil || notQuota.Total+quota.Total != all.Total {
		t.Fatalf("not @CA-QUOTA selects %d, @CA-QUOTA %d, all %d (%v)", notQuota.Total, quota.Total, all.Total, err)
	}

	_, err = selectScenarios("@CA-QUOTE", true)
	if err == nil || !strings.Contains(err.Error(), "@CA-QUOTE is not a tag of any scenario (did you mean @CA-QUOTA?)") {
		t.Fatalf("a typo: %v", err)
	}
	_, err = selectScenarios("@NOPE", true)
	if err == nil || !strings.Contains(err.Error(), "selects no scenario") {
		t.Fatalf("@NOPE: %v", err)
	}
	some, err := selectScenarios("@CA-QUOTA or @NOPE", true)
	if err != nil || some.Total != quota.Total || len(some.Unknown) != 1 || some.Unknown[0] != "@NOPE" {
		t.Fatalf("a known and an unknown tag: %+v, %v", some, err)
	}
	ref, err := selectScenarios("@reference and @CA-QUOTA", false)
	if err == nil || !strings.Contains(err.Error(), "only select @reference") {
		t.Fatalf("@reference without reference: %+v, %v", ref, err)
	}
}
