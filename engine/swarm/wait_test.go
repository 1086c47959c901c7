package swarm

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/hoist-dev/hoist/runspec"
)

// svcWith is a replicated service of n replicas whose tasks' spec hash is
// "cur".
func svcWith(n uint64, update swarm.UpdateState) swarm.Service {
	s := swarm.Service{}
	s.Spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &n}
	s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Labels: map[string]string{LabelTaskHash: "cur"}}
	s.ServiceStatus = &swarm.ServiceStatus{DesiredTasks: n}
	if update != "" {
		s.UpdateStatus = &swarm.UpdateStatus{State: update, Message: "update " + string(update)}
	}
	return s
}

func task(slot int, hash string, state, desired swarm.TaskState, at time.Time, err string, exit int) swarm.Task {
	t := swarm.Task{Slot: slot, NodeID: "n1", DesiredState: desired}
	t.Spec.ContainerSpec = &swarm.ContainerSpec{Labels: map[string]string{LabelTaskHash: hash}}
	t.Status = swarm.TaskStatus{State: state, Timestamp: at, Err: err}
	t.Meta.CreatedAt = at
	if exit != 0 {
		t.Status.ContainerStatus = &swarm.ContainerStatus{ExitCode: exit}
	}
	return t
}

func TestVerdict(t *testing.T) {
	start := time.Unix(1000, 0)
	later, before := start.Add(time.Second), start.Add(-time.Minute)
	nodes := map[string]string{"n1": "node-1"}
	run, shut := swarm.TaskStateRunning, swarm.TaskStateShutdown
	job := func(total uint64) swarm.Service {
		s := swarm.Service{}
		s.Spec.Mode.ReplicatedJob = &swarm.ReplicatedJob{TotalCompletions: &total}
		s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Labels: map[string]string{LabelTaskHash: "cur"}}
		return s
	}
	global := func(desired uint64) swarm.Service {
		s := swarm.Service{}
		s.Spec.Mode.Global = &swarm.GlobalService{}
		s.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Labels: map[string]string{LabelTaskHash: "cur"}}
		s.ServiceStatus = &swarm.ServiceStatus{DesiredTasks: desired}
		return s
	}
	onNode := func(t swarm.Task, node string) swarm.Task {
		t.NodeID = node
		return t
	}
	emulated := func(n uint64) swarm.Service {
		s := svcWith(n, "")
		s.Spec.Labels = map[string]string{LabelMode: string(runspec.ModeReplicatedJob)}
		return s
	}
	cases := []struct {
		name     string
		svc      swarm.Service
		tasks    []swarm.Task
		done     bool
		err      error
		progress string
	}{
		{"converged", svcWith(2, ""), []swarm.Task{task(1, "cur", run, run, later, "", 0), task(2, "cur", run, run, later, "", 0)},
			true, nil, "a 2/2 running"},
		{"starting", svcWith(2, ""), []swarm.Task{task(1, "cur", run, run, later, "", 0), task(2, "cur", swarm.TaskStateStarting, run, later, "", 0)},
			false, nil, "a 1/2 running"},
		// Right after an update, old tasks still run: not converged.
		{"old spec", svcWith(1, swarm.UpdateStateCompleted), []swarm.Task{task(1, "old", run, run, before, "", 0)},
			false, nil, "a 0/1 running"},
		{"updating", svcWith(1, swarm.UpdateStateUpdating), []swarm.Task{task(1, "cur", run, run, later, "", 0)},
			false, nil, "a 1/1 running (updating)"},
		{"rolled back", svcWith(1, swarm.UpdateStateRollbackCompleted), []swarm.Task{task(1, "cur", run, run, later, "", 0),
			task(1, "new", swarm.TaskStateFailed, shut, later, "task: non-zero exit (143): dockerexec: unhealthy container", 143)},
			true, ErrRolledBack, "a 1/1 running (rollback completed): a.1@node-1 failed: task: non-zero exit (143): dockerexec: unhealthy container"},
		// Swarm reports the rollback done before its tasks run again.
		{"rolling back still", svcWith(2, swarm.UpdateStateRollbackCompleted), []swarm.Task{task(1, "cur", run, run, later, "", 0),
			task(2, "cur", swarm.TaskStateAssigned, swarm.TaskStateReady, later, "", 0)},
			false, nil, "a 1/2 running (rollback completed)"},
		// Swarm's desired count of a global service leaves out the node
		// whose task failed while its replacement waits to restart.
		{"global, a node's task restarting", global(2), []swarm.Task{task(0, "cur", run, run, later, "", 0),
			onNode(task(0, "cur", swarm.TaskStateRunning, run, later, "", 0), "n2"),
			onNode(task(0, "cur", swarm.TaskStateFailed, shut, later, "port is already allocated", 0), "n3"),
			onNode(task(0, "cur", swarm.TaskStateReady, swarm.TaskStateReady, later, "", 0), "n3")},
			false, nil, "a 2/3 running: a failed: port is already allocated"},
		{"paused", svcWith(1, swarm.UpdateStatePaused), nil, true, ErrTaskFailed, "a 0/1 running (paused)"},
		{"failing", svcWith(1, ""), []swarm.Task{
			task(1, "cur", swarm.TaskStateRejected, shut, later, "No such image: x:1", 0),
			task(1, "cur", swarm.TaskStateRejected, shut, later.Add(time.Second), "No such image: x:1", 0),
			task(1, "cur", swarm.TaskStateRejected, shut, later.Add(2*time.Second), "No such image: x:1", 0),
			task(1, "cur", swarm.TaskStatePending, run, later.Add(3*time.Second), "", 0)},
			true, ErrTaskFailed, "a 0/1 running: a.1@node-1 rejected: No such image: x:1"},
		{"failures before the wait do not count", svcWith(1, ""), []swarm.Task{
			task(1, "cur", swarm.TaskStateFailed, shut, before, "old", 1), task(1, "cur", swarm.TaskStateFailed, shut, before, "old", 1),
			task(1, "cur", swarm.TaskStateFailed, shut, before, "old", 1), task(1, "cur", swarm.TaskStatePreparing, run, later, "", 0)},
			false, nil, "a 0/1 running"},
		{"failed, nothing left to run", svcWith(1, ""), []swarm.Task{task(1, "cur", swarm.TaskStateFailed, shut, later, "task: non-zero exit (3)", 3)},
			true, ErrTaskFailed, "a 0/1 running: a.1@node-1 failed: task: non-zero exit (3)"},
		{"no suitable node", svcWith(1, ""), []swarm.Task{task(1, "cur", swarm.TaskStatePending, run, later, "no suitable node (scheduling constraints not satisfied on 3 nodes)", 0)},
			false, nil, "a 0/1 running: a.1@node-1 pending: no suitable node (scheduling constraints not satisfied on 3 nodes)"},
		{"job done", job(2), []swarm.Task{task(1, "cur", swarm.TaskStateComplete, swarm.TaskStateComplete, later, "", 0), task(2, "cur", swarm.TaskStateComplete, swarm.TaskStateComplete, later, "", 0)},
			true, nil, "a 2/2 completed"},
		{"job running", job(2), []swarm.Task{task(1, "cur", swarm.TaskStateComplete, swarm.TaskStateComplete, later, "", 0), task(2, "cur", run, swarm.TaskStateComplete, later, "", 0)},
			false, nil, "a 1/2 completed"},
		{"emulated job done", emulated(1), []swarm.Task{task(1, "old", swarm.TaskStateComplete, run, before, "", 0), task(1, "cur", swarm.TaskStateComplete, run, later, "", 0)},
			true, nil, "a 1/1 completed"},
		{"emulated job of an earlier spec", emulated(1), []swarm.Task{task(1, "old", swarm.TaskStateComplete, run, before, "", 0), task(1, "cur", run, run, later, "", 0)},
			false, nil, "a 0/1 completed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := observed{service: "a", svc: c.svc, tasks: c.tasks}.verdict(start, 3, nodes)
			if v.done != c.done || !errors.Is(v.err, c.err) || (c.err == nil) != (v.err == nil) {
				t.Errorf("done %v err %v, want %v %v", v.done, v.err, c.done, c.err)
			}
			if got := v.progress.String(); got != c.progress {
				t.Errorf("progress %q\nwant     %q", got, c.progress)
			}
		})
	}
}

func node(id, host string, role swarm.NodeRole, labels map[string]string, ready bool) swarm.Node {
	n := swarm.Node{ID: id}
	n.Description.Hostname = host
	n.Description.Resources = swarm.Resources{MemoryBytes: 4 << 30, NanoCPUs: 2e9}
	n.Spec.Role, n.Spec.Labels, n.Spec.Availability = role, labels, swarm.NodeAvailabilityActive
	n.Status.State = swarm.NodeStateDown
	if ready {
		n.Status.State = swarm.NodeStateReady
	}
	return n
}

func TestPlacementProblems(t *testing.T) {
	nodes := []swarm.Node{
		node("a", "m1", swarm.NodeRoleManager, nil, true),
		node("b", "w1", swarm.NodeRoleWorker, map[string]string{"zone": "east"}, true),
		node("c", "w2", swarm.NodeRoleWorker, map[string]string{"zone": "west"}, false),
	}
	svc := func(replicas int, max uint64, cons ...string) Service {
		return Service{Config: runspec.Container{Deploy: runspec.Deploy{Mode: runspec.ModeReplicated, Replicas: replicas,
			Placement: runspec.Placement{Constraints: cons, MaxReplicasPerNode: max}}}}
	}
	for _, c := range []struct {
		s    Service
		want string
	}{
		{svc(1, 0, "node.role==worker"), ""},
		{svc(1, 0, "node.labels.zone==east"), ""},
		{svc(1, 0, "node.labels.zone==west"), "no ready node satisfies node.labels.zone==west"}, // w2 is down
		{svc(1, 0, "node.role==worker", "node.hostname!=w1"), "no ready node satisfies node.role==worker and node.hostname!=w1"},
		{svc(3, 1), "3 replicas cannot fit: 2 eligible nodes × max_replicas_per_node 1"},
		{svc(2, 1), ""},
		{svc(1, 0, "node.platform.os==linux"), "no ready node satisfies node.platform.os==linux"}, // the fakes have no platform
		{reserve(svc(1, 0), 4<<30, 2e9), ""},
		{reserve(svc(1, 0), 1000<<30, 0), "no eligible node has 1000.0 GiB of memory to reserve: the largest has 4.0 GiB of memory and 2 CPUs"},
		{reserve(svc(1, 0), 0, 3e9), "no eligible node has 3 CPUs to reserve: the largest has 4.0 GiB of memory and 2 CPUs"},
	} {
		var msgs []string
		for _, p := range placementProblems(c.s, nodes) {
			msgs = append(msgs, p.Msg)
		}
		got := strings.Join(msgs, "; ")
		if got != c.want {
			t.Errorf("%v: %q, want %q", c.s.Config.Deploy.Placement, got, c.want)
		}
	}
}

func reserve(s Service, mem, nanoCPUs int64) Service {
	s.Config.Deploy.Resources.Reservations = runspec.ResourceAmounts{MemoryBytes: mem, NanoCPUs: nanoCPUs}
	return s
}

func TestPortConflicts(t *testing.T) {
	other := swarm.Service{}
	other.Spec.Name = "x_web"
	other.Spec.Labels = map[string]string{LabelNamespace: "x"}
	other.Endpoint.Ports = []swarm.PortConfig{{PublishedPort: 80, TargetPort: 80, Protocol: "tcp"}}
	mine := swarm.Service{}
	mine.Spec.Name = "p_a"
	mine.Spec.Labels = map[string]string{LabelNamespace: "p"}
	mine.Endpoint.Ports = []swarm.PortConfig{{PublishedPort: 81, TargetPort: 80, Protocol: "tcp"}}
	svc := func(name string, ports ...runspec.Port) Service {
		return Service{Name: name, Config: runspec.Container{Network: runspec.Network{Ports: ports}}}
	}
	got := portConflicts("p", []Service{
		svc("a", runspec.Port{ContainerPort: 80, HostPort: "81", Protocol: "tcp"}),   // its own port, redeployed
		svc("b", runspec.Port{ContainerPort: 80, HostPort: "80", Protocol: "tcp"}),   // x's
		svc("c", runspec.Port{ContainerPort: 53, HostPort: "80", Protocol: "udp"}),   // another protocol
		svc("d", runspec.Port{ContainerPort: 80, HostPort: "81", Protocol: "tcp"}),   // a's, in this project
		svc("e", runspec.Port{ContainerPort: 80, HostPort: "7071", Protocol: "tcp"}), // a plain container's
	}, []swarm.Service{other, mine}, map[portID]string{{7071, "tcp"}: "container holder on node m1, outside the swarm,"})
	var s []string
	for _, p := range got {
		s = append(s, p.Service+": "+p.Msg)
	}
	want := []string{"b: port 80/tcp is published by service x_web already", "d: port 81/tcp is published by service p_a already",
		"e: port 7071/tcp is published by container holder on node m1, outside the swarm, already"}
	if strings.Join(s, "\n") != strings.Join(want, "\n") {
		t.Errorf("conflicts:\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
}

// Each log message gets its task's name in place of the details the
// daemon puts before it.
func TestPrefixer(t *testing.T) {
	names := &taskNames{slots: map[string]int{"t1": 2}, nodes: map[string]string{"n1": "host-1"}}
	var out bytes.Buffer
	p := &prefixer{mu: &sync.Mutex{}, w: &out, names: names, service: "web", framed: true, ctx: context.Background()}
	p.Write([]byte("com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t1 hello\n"))
	p.Write([]byte("com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t1 no newline"))
	ts := &prefixer{mu: &sync.Mutex{}, w: &out, names: names, service: "web", framed: true, timestamps: true, ctx: context.Background()}
	ts.Write([]byte("2026-01-02T03:04:05.000000000Z com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s,com.docker.swarm.task.id=t1 at a time\n"))
	want := "web.2@host-1 | hello\nweb.2@host-1 | no newline\nweb.2@host-1 | 2026-01-02T03:04:05.000000000Z at a time\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	if d := parseDetails("a%3Db=c%2Cd,e=f"); d["a=b"] != "c,d" || d["e"] != "f" {
		t.Errorf("parseDetails: %v", d)
	}
}
