# The housekeeping of a dead Buildbot master, run by bbctl-agent with the fleet's own Buildbot
# (POST /v1/buildbot-db/masters/expire, docs/masters.md). It never writes SQL itself: it builds
# a BuildMaster that is never started, sets up its database, message queue and data API, takes
# the dead master's id as its own (Buildbot's unclaim only deletes the claims of "this" master,
# db/buildrequests.py), then calls Buildbot's own code: masterStopped (or, for a row already
# inactive, the housekeeping expireMasters(forceHouseKeeping=True) would run) and
# unclaimBuildRequests, whose `unclaimed` events wake the live masters up.
#
# Input: one JSON object on stdin: db_url (SQLAlchemy URL), app_name (PostgreSQL
# application_name of its sessions), masterid, name, config_dir (a scratch basedir holding the
# active master.cfg, for the message-queue settings; null: none), mq_timeout (seconds).
# Output: one JSON line on stdout starting with RESULT_PREFIX; errors on stderr, exit 1.
import json
import os
import sys
import tempfile

RESULT_PREFIX = "bbctl-expire-result: "


def main():
    from twisted.internet import task

    args = json.load(sys.stdin)
    from twisted.internet import defer

    task.react(lambda reactor: defer.ensureDeferred(run(reactor, args)))


def load_mq(config_dir):
    """The mq settings of the active master.cfg, loaded by Buildbot (as checkconfig does)."""
    if not config_dir:
        return None, "no active configuration on this agent: the message queue is unknown"
    from buildbot.config.master import FileLoader

    try:
        cfg = FileLoader(config_dir, "master.cfg").loadConfig()
    except Exception as e:  # noqa: BLE001 - reported, the housekeeping still runs
        return None, f"master.cfg could not be loaded ({e}): the message queue is unknown"
    return dict(cfg.mq), None


def db_config(url):
    try:
        from buildbot.config.master import DBConfig
    except ImportError:  # Buildbot < 4.3 keeps a dict
        return {"db_url": url}
    return DBConfig(db_url=url)


def with_app_name(url, app_name):
    from sqlalchemy.engine import make_url

    return make_url(url).update_query_dict({"application_name": app_name}).render_as_string(
        hide_password=False
    )


async def run(reactor, args):
    from twisted.internet import defer

    from buildbot import version
    from buildbot.data import resultspec
    from buildbot.master import BuildMaster

    masterid = int(args["masterid"])
    mq, mq_problem = load_mq(args.get("config_dir"))
    basedir = tempfile.mkdtemp(prefix="bbctl-expire-")
    master = BuildMaster(basedir, reactor=reactor)
    await master._services_d
    master.config.db = db_config(with_app_name(args["db_url"], args["app_name"]))
    if mq is not None and mq.get("type") == "wamp":
        master.config.mq = mq
    await master.db.setup(check_version=True)
    await master.db.startService()

    # Buildbot's own unclaim filter matches the claims of `master.masterid`: the dead one's.
    master.masterid = masterid
    notified = False
    pending = []
    if master.config.mq.get("type") == "wamp":
        await master.wamp.reconfigServiceWithBuildbotConfig(master.config)
        await master.wamp.startService()
        await master.mq.setup()
        impl = master.mq.impl

        def produce(routing_key, data):
            d = impl._produce(routing_key, data)
            d.addErrback(lambda f: sys.stderr.write(f"publish {routing_key}: {f.value}\n"))
            pending.append(d)

        master.mq.produce = produce
        try:
            await with_timeout(reactor, master.wamp.getService(), args.get("mq_timeout", 10))
            notified = True
        except defer.TimeoutError:
            mq_problem = f"the WAMP router {mq.get('router_url')} did not answer"
            notified = False
    else:
        await master.mq.setup()
        if mq_problem is None:
            mq_problem = "the masters use no WAMP router: nothing to notify"

    row = await master.db.masters.getMaster(masterid)
    if row is None:
        raise SystemExit(f"no master with id {masterid}")
    builds = await master.data.get(
        ("builds",),
        filters=[
            resultspec.Filter("masterid", "eq", [masterid]),
            resultspec.Filter("complete", "eq", [False]),
        ],
    )
    requests = await master.db.buildrequests.getBuildRequests(complete=False, claimed=masterid)
    schedulers = await master.db.schedulers.getSchedulers(masterid=masterid)
    changesources = await master.db.changesources.getChangeSources(masterid=masterid)
    brids = [br.buildrequestid for br in requests]

    rtype = master.data.rtypes.master
    if row.active:
        await master.data.updates.masterStopped(name=row.name, masterid=masterid)
    else:
        await rtype._masterDeactivatedHousekeeping(masterid, row.name)
    # The housekeeping deleted the claims (with `masterid` as ours); tell the live masters.
    await master.data.updates.unclaimBuildRequests(brids)
    if pending:
        try:
            await with_timeout(reactor, defer.DeferredList(pending), args.get("mq_timeout", 10))
        except defer.TimeoutError:
            notified = False
            mq_problem = "the events were not all published in time"

    still = await master.db.buildrequests.getBuildRequests(complete=False, claimed=masterid)
    result = {
        "masterid": masterid,
        "name": row.name,
        "was_active": bool(row.active),
        "builds_retried": [b["buildid"] for b in builds],
        "requests_returned": brids,
        "still_claimed": [br.buildrequestid for br in still],
        "schedulers_released": len(schedulers) + len(changesources),
        "notified": notified,
        "mq_problem": mq_problem,
        "buildbot_version": version,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    if master.wamp.running:
        await defer.maybeDeferred(master.wamp.stopService)
    await defer.maybeDeferred(master.db.pool.stop)
    os.rmdir(basedir)


def with_timeout(reactor, d, secs):
    d.addTimeout(float(secs), reactor)
    return d


if __name__ == "__main__":
    main()
