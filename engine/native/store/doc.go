// Package store is the native engine's on-disk store of containers: where
// everything lives (Layout), each container's record (Record, its
// config.json), the host-wide names, the locks, the networks' records,
// and the files other parts leave beside a record (the runtime's state,
// the healthcheck's outcome, the published ports). It owns their formats:
// records written by earlier versions load (see testdata).
//
// It imports the standard library and light packages only (the runtime,
// for the spec a record carries and the state it reads; the engine's
// error kinds), so that hoist run's fast path (cmd/hoist/fastrun, through
// engine/native/oneoff) can link it without the compose loader.
//
// # Layout
//
//	<RunDir>/names/<name>                          name → <project>/<id> (host-wide)
//	<RunDir>/networks/<name>.json                  recorded networks (host-wide)
//	<RunDir>/<project>/                            the project's supervisor dir (engine/native/supervisor)
//	<RunDir>/<project>/up.lock                     serialises up of the project
//	<RunDir>/<project>/containers/<id>/config.json the container's record
//	<RunDir>/<project>/containers/<id>/state.json  the runtime's state (runtime.Monitor)
//	<RunDir>/<project>/containers/<id>/health.json the healthcheck's last outcomes
//	<RunDir>/<project>/containers/<id>/proxy.json  the published ports
//	<RunDir>/<project>/containers/<id>/container.log and rotations (engine/native/logfile)
//	<RunDir>/<project>/net/                        engine/native/network's state
//	<RunDir>/build.<pid>.<hex>/                    a build's network while it runs (engine/native/buildnet)
//	<Root>/containers/<id>/{upper,work,rootfs}     writable layer and mountpoint
//	<Root>/containers/<id>/etc/                    hosts, hostname, resolv.conf
//	<Root>/containers/<id>/lock                    serialises start, stop and remove
//	<Root>/volumes/<name>/{_data,volume.json}      volumes (engine/native/volume)
//
// The writable layer lives under Root (it must survive a reboot like
// Docker's), the run state under the volatile RunDir. Every file is
// written atomically (temporary file, rename); files under Root are
// synced, those under RunDir are not (they describe processes and mounts
// a reboot ends).
package store
