package result

// bench.go: the login benchmark's figures. When servers are measured in
// interleaved rounds (the platform, then each comparison server, then the
// platform again...), each round gives every server's CPU per
// server-confirmed login, and each ratio is taken inside one round, where
// the machine's state was the same for both sides. The figures are the
// medians over the rounds and their spread (minimum and maximum): one
// round's figure can be off by a neighbour's burst on a shared machine.

import (
	"slices"
)

// Bench is the summary of a run measured in rounds.
type Bench struct {
	Rounds  int           `json:"rounds"`
	Servers []BenchServer `json:"servers"` // in the order of their first window
	Ratios  []BenchRatio  `json:"ratios"`
}

// BenchServer is one server's CPU per server-confirmed login, per round.
type BenchServer struct {
	Server string `json:"server"`
	// CPUPerLoginUs has one entry per round (0: not measured in that round).
	CPUPerLoginUs []float64 `json:"cpu_per_login_us"`
	// LoginsPerS is the logins per second of its window, per round.
	LoginsPerS []float64 `json:"logins_per_s"`
	Spread
}

// BenchRatio is a ratio of two servers' CPU per login, taken per round.
type BenchRatio struct {
	Name     string    `json:"name"` // "platform / baseline"
	Of, Over string    `json:"-"`
	PerRound []float64 `json:"per_round"` // 0: a side was not measured in that round
	Spread
}

// Spread is the median, minimum and maximum of a figure over the rounds
// where it was measured.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"` // rounds measured
}

// SpreadOf is the median, minimum and maximum of the positive values of vs.
func SpreadOf(vs []float64) Spread {
	var got []float64
	for _, v := range vs {
		if v > 0 {
			got = append(got, v)
		}
	}
	if len(got) == 0 {
		return Spread{}
	}
	slices.Sort(got)
	m := got[len(got)/2]
	if len(got)%2 == 0 {
		m = (got[len(got)/2-1] + got[len(got)/2]) / 2
	}
	return Spread{Median: m, Min: got[0], Max: got[len(got)-1], N: len(got)}
}

// benchRatios are the ratios a benchmark reports, numerator first: what
// the server under test costs over the bare handshake and over the bare
// MQTT login, and what mosquitto costs over the server under test.
var benchRatios = [][2]string{
	{"", ServerBaseline},
	{"", ServerBaselineMQTT},
	{ServerMosquitto, ""},
}

// BenchOf computes the benchmark figures of windows measured in two rounds
// or more; nil otherwise.
func BenchOf(windows []Window) *Bench {
	rounds := 0
	for _, w := range windows {
		rounds = max(rounds, w.Round)
	}
	if rounds < 2 {
		return nil
	}
	b := &Bench{Rounds: rounds}
	index := map[string]int{}
	for _, w := range windows {
		if w.Round < 1 {
			continue
		}
		i, ok := index[w.Server]
		if !ok {
			i = len(b.Servers)
			index[w.Server] = i
			b.Servers = append(b.Servers, BenchServer{Server: w.Server,
				CPUPerLoginUs: make([]float64, rounds), LoginsPerS: make([]float64, rounds)})
		}
		bs := &b.Servers[i]
		if cpu := w.ServerCPUSeconds(); cpu > 0 && w.Logins > 0 {
			bs.CPUPerLoginUs[w.Round-1] = cpu * 1e6 / float64(w.Logins)
		}
		if d := w.End.Sub(w.Start).Seconds(); d > 0 {
			bs.LoginsPerS[w.Round-1] = float64(w.Logins) / d
		}
	}
	under := ""
	for _, s := range b.Servers {
		if s.Server == ServerPlatform || s.Server == ServerTarget {
			under = s.Server
		}
	}
	for i := range b.Servers {
		b.Servers[i].Spread = SpreadOf(b.Servers[i].CPUPerLoginUs)
	}
	if under == "" {
		return b
	}
	for _, pair := range benchRatios {
		of, over := pair[0], pair[1]
		if of == "" {
			of = under
		}
		if over == "" {
			over = under
		}
		io, iok := index[of]
		jo, jok := index[over]
		if !iok || !jok {
			continue
		}
		r := BenchRatio{Name: of + " / " + over, Of: of, Over: over, PerRound: make([]float64, rounds)}
		for k := range rounds {
			if n, d := b.Servers[io].CPUPerLoginUs[k], b.Servers[jo].CPUPerLoginUs[k]; n > 0 && d > 0 {
				r.PerRound[k] = n / d
			}
		}
		r.Spread = SpreadOf(r.PerRound)
		b.Ratios = append(b.Ratios, r)
	}
	return b
}
