package health

import (
	"container/heap"
	"slices"
	"testing"
	"time"
)

func TestDueQueue(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type op struct {
		kind  string // wait (with due), drop, pop
		probe int
		due   int
	}
	for _, x := range []struct {
		name string
		ops  []op
		want []int // the probes popped at the end, in order
	}{
		{"earliest first", []op{{"wait", 0, 30}, {"wait", 1, 10}, {"wait", 2, 20}}, []int{1, 2, 0}},
		{"moved earlier", []op{{"wait", 0, 10}, {"wait", 1, 20}, {"wait", 2, 30}, {"wait", 2, 5}}, []int{2, 0, 1}},
		{"moved later", []op{{"wait", 0, 10}, {"wait", 1, 20}, {"wait", 0, 40}}, []int{1, 0}},
		{"dropped", []op{{"wait", 0, 10}, {"wait", 1, 20}, {"wait", 2, 30}, {"drop", 1, 0}}, []int{0, 2}},
		{"dropped twice, and one never in", []op{{"wait", 0, 10}, {"drop", 0, 0}, {"drop", 0, 0}, {"drop", 3, 0}}, nil},
		{"popped, then back", []op{{"wait", 0, 10}, {"wait", 1, 20}, {"pop", 0, 0}, {"wait", 0, 30}}, []int{1, 0}},
	} {
		probes := make([]*probeRun, 4)
		for i := range probes {
			probes[i] = &probeRun{idx: -1}
		}
		num := func(pr *probeRun) int { return slices.Index(probes, pr) }
		var q dueQueue
		for _, o := range x.ops {
			pr := probes[o.probe]
			switch o.kind {
			case "wait":
				pr.due = at(o.due)
				q.wait(pr)
			case "drop":
				q.drop(pr)
			case "pop":
				heap.Pop(&q)
			}
			for i, p := range q {
				if p.idx != i {
					t.Fatalf("%s: after %v probe %d sits at %d with idx %d", x.name, o, num(p), i, p.idx)
				}
			}
		}
		var got []int
		for q.Len() > 0 {
			pr := heap.Pop(&q).(*probeRun)
			if pr.idx != -1 {
				t.Errorf("%s: probe %d popped with idx %d, want -1", x.name, num(pr), pr.idx)
			}
			got = append(got, num(pr))
		}
		if !slices.Equal(got, x.want) {
			t.Errorf("%s: popped %v, want %v", x.name, got, x.want)
		}
	}
}
