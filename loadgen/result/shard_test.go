package result

import "testing"

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"", Shard{0, 1}, false},
		{"0/1", Shard{0, 1}, false},
		{"2/4", Shard{2, 4}, false},
		{"4/4", Shard{}, true},
		{"-1/4", Shard{}, true},
		{"1/0", Shard{}, true},
		{"1", Shard{}, true},
		{"a/b", Shard{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShard(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseShard(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestShardsPartitionTheFleet(t *testing.T) {
	const n = 1001
	for _, count := range []int{1, 2, 3, 7} {
		seen := make([]int, n)
		for i := range count {
			for _, d := range (Shard{Index: i, Count: count}).Indexes(n) {
				seen[d]++
				if d%count != i {
					t.Fatalf("shard %d/%d holds device %d", i, count, d)
				}
			}
		}
		for d, c := range seen {
			if c != 1 {
				t.Fatalf("%d shards: device %d is in %d shards, want exactly 1", count, d, c)
			}
		}
	}
}
