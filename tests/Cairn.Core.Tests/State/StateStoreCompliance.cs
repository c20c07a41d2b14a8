using System.Text.Json;
using System.Text.Json.Nodes;
using Cairn.Core.State;

namespace Cairn.Core.Tests.State;

/// <summary>
/// What every <see cref="IStateStore"/> must do. Subclass per implementation (SQLite here; PostgreSQL can follow)
/// and supply <see cref="Open"/>, which opens a store over the same backing data each time it is called.
/// </summary>
public abstract class StateStoreCompliance : IDisposable
{
    private readonly List<IStateStore> _opened = [];
    private IStateStore? _store;

    private static readonly string[] Leaves = ["a", "b", "c"];

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Opens a store over this test's backing data (fresh at first call, the same data afterwards).</summary>
    protected abstract IStateStore Open();

    protected IStateStore Store => _store ??= Track(Open());

    /// <summary>Closes the current store and opens another over the same data.</summary>
    protected IStateStore Reopen()
    {
        _store?.Dispose();
        _store = Track(Open());
        return _store;
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (!disposing) return;
        foreach (var s in _opened)
            if (!ReferenceEquals(s, _store)) s.Dispose();
        _store?.Dispose();
    }

    private IStateStore Track(IStateStore s)
    {
        _opened.Add(s);
        return s;
    }

    protected static DateTimeOffset Now => DateTimeOffset.UtcNow;

    protected static VolumeRecord Volume(string name, string project = "admin", JsonObject? attributes = null) =>
        new(Guid.NewGuid(), project, name, "available", 1L << 30, Now, Now, attributes);

    protected static JobRecord Job(string type = "t", JobState state = JobState.Pending, DateTimeOffset? created = null, DateTimeOffset? finished = null) =>
        new(Guid.NewGuid(), type, state, null, 0, created ?? Now, null, finished, null, new JsonObject { ["x"] = 1 }, null, [], 0);

    protected static void AssertSame<T>(T expected, T? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(JsonSerializer.Serialize(expected), JsonSerializer.Serialize(actual));
    }

    [Fact]
    public async Task Volume_read_back_equals_what_was_written()
    {
        var v = Volume("pool/a", attributes: new JsonObject { ["display_name"] = "A", ["meta"] = new JsonObject { ["k"] = "v" } });
        await Store.WriteAsync(w => w.Put(v), Ct);
        AssertSame(v, Store.GetVolume(v.Id));
        AssertSame(v, Store.FindVolume("pool/a"));
    }

    [Fact]
    public async Task Commits_advance_with_each_committed_change_and_reads_after_them_see_it()
    {
        var before = Store.Commits;
        var v = Volume("pool/commits/a");
        await Store.WriteAsync(w => w.Put(v), Ct);
        var after = Store.Commits;
        Assert.True(after > before, $"{after} after one write, {before} before");
        Assert.NotNull(Store.GetVolume(v.Id));
        await Store.WriteAsync(w => w.DeleteVolume(v.Id), Ct);
        Assert.True(Store.Commits > after);
        Assert.Null(Store.GetVolume(v.Id));
    }

    [Fact]
    public async Task Many_volumes_are_found_by_name_in_one_read()
    {
        var a = Volume("pool/many/a");
        var b = Volume("pool/many/b") with { Module = Modules.BlockStorage };
        await Store.WriteAsync(w => { w.Put(a); w.Put(b); w.Put(Volume("pool/many/c")); }, Ct);
        var found = Store.FindVolumes(["pool/many/a", "pool/many/b", "pool/many/none", "pool/many/\"quoted\""]).OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(["pool/many/a", "pool/many/b"], found.Select(v => v.Name));
        Assert.Equal(Modules.BlockStorage, found[1].Module);
        Assert.Empty(Store.FindVolumes([]));
        Assert.Single(Store.FindVolumes([.. Enumerable.Repeat("pool/many/a", 600)])); // a name asked for twice is one record
    }

    [Fact]
    public async Task Owning_module_of_volumes_and_snapshots_round_trips()
    {
        var v = Volume("pool/cinder") with { Module = Modules.BlockStorage, Project = "p1" };
        var s = new SnapshotRecord(Guid.NewGuid(), v.Id, "s1", "available", 1, Now, Now, Module: Modules.BlockStorage);
        await Store.WriteAsync(w => { w.Put(v); w.Put(s); }, Ct);
        Assert.Equal(Modules.BlockStorage, Store.FindVolume("pool/cinder")!.Module);
        Assert.Equal(Modules.BlockStorage, Store.GetSnapshot(s.Id)!.Module);
        Assert.Equal(Modules.Admin, Volume("pool/x").Module); // the default owner
    }

    [Fact]
    public async Task Pools_are_kept_sorted_updated_in_place_and_deleted()
    {
        await Store.WriteAsync(w =>
        {
            w.Put(new PoolRecord("tank", "embedded", Now));
            w.Put(new PoolRecord("na-jbod-02-p01", "zfs", Now, new JsonObject { ["mode"] = "file" }));
        }, Ct);
        Assert.Equal(["na-jbod-02-p01", "tank"], Store.ListPools().Select(p => p.Name));
        Assert.Equal("file", (string?)Store.ListPools()[0].Attributes!["mode"]);
        await Store.WriteAsync(w => w.Put(new PoolRecord("tank", "zfs", Now)), Ct);
        Assert.Equal("zfs", Store.ListPools().Single(p => p.Name == "tank").Engine);
        await Store.WriteAsync(w => w.DeletePool("tank"), Ct);
        Assert.Equal(["na-jbod-02-p01"], Store.ListPools().Select(p => p.Name));
    }

    [Fact]
    public async Task Module_documents_are_kept_per_module_and_kind_listed_by_project_and_survive_reopening()
    {
        await Store.WriteAsync(w =>
        {
            w.Put(new DocumentRecord("identity", "user", "u2", "p1", new JsonObject { ["name"] = "bob" }, Now));
            w.Put(new DocumentRecord("identity", "user", "u1", "p2", new JsonObject { ["name"] = "alice" }, Now));
            w.Put(new DocumentRecord("identity", "project", "u1", null, new JsonObject { ["name"] = "same key, other kind" }, Now));
            w.Put(new DocumentRecord("block-storage", "user", "u1", "p2", new JsonObject { ["name"] = "same key, other module" }, Now));
        }, Ct);
        Assert.Equal(["u1", "u2"], Store.ListDocuments("identity", "user").Select(d => d.Key));
        Assert.Equal(["u2"], Store.ListDocuments("identity", "user", project: "p1").Select(d => d.Key));
        Assert.Equal("alice", (string?)Store.GetDocument("identity", "user", "u1")!.Body["name"]);
        Assert.Equal("same key, other kind", (string?)Store.GetDocument("identity", "project", "u1")!.Body["name"]);
        Assert.Null(Store.GetDocument("identity", "user", "u3"));

        var written = new DateTimeOffset(2026, 12, 7, 1, 2, 3, TimeSpan.Zero);
        await Store.WriteAsync(w => w.Put(new DocumentRecord("identity", "user", "u1", "p1", new JsonObject { ["name"] = "alice2" }, written)), Ct);
        await Store.WriteAsync(w => w.DeleteDocument("identity", "user", "u2"), Ct);
        var reopened = Reopen();
        var u1 = Assert.Single(reopened.ListDocuments("identity", "user"));
        Assert.Equal(("u1", "p1", "alice2"), (u1.Key, u1.Project, (string?)u1.Body["name"]));
        Assert.Equal(written, u1.Updated);
        Assert.NotNull(reopened.GetDocument("block-storage", "user", "u1"));
    }

    [Fact]
    public async Task Times_are_stored_and_returned_in_utc()
    {
        var local = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(1234567);
        var v = Volume("pool/t") with { Created = local, Updated = local };
        await Store.WriteAsync(w => w.Put(v), Ct);
        var back = Store.GetVolume(v.Id)!;
        Assert.Equal(TimeSpan.Zero, back.Created.Offset);
        Assert.Equal(local, back.Created);
    }

    [Fact]
    public async Task Putting_a_volume_again_updates_it_in_place()
    {
        var v = Volume("pool/a");
        await Store.WriteAsync(w => w.Put(v), Ct);
        var changed = v with { Status = "in-use", Size = 42, Updated = Now };
        await Store.WriteAsync(w => w.Put(changed), Ct);
        AssertSame(changed, Store.GetVolume(v.Id));
        Assert.Single(Store.ListVolumes());
    }

    [Fact]
    public async Task Volumes_list_by_project_sorted_by_name()
    {
        await Store.WriteAsync(w =>
        {
            w.Put(Volume("pool/b", "p1"));
            w.Put(Volume("pool/a", "p1"));
            w.Put(Volume("pool/c", "p2"));
        }, Ct);
        Assert.Equal(["pool/a", "pool/b"], Store.ListVolumes("p1").Select(v => v.Name));
        Assert.Equal(["pool/a", "pool/b", "pool/c"], Store.ListVolumes().Select(v => v.Name));
        Assert.Empty(Store.ListVolumes("nobody"));
    }

    [Fact]
    public async Task Deleted_volume_is_gone()
    {
        var v = Volume("pool/a");
        await Store.WriteAsync(w => w.Put(v), Ct);
        await Store.WriteAsync(w => w.DeleteVolume(v.Id), Ct);
        Assert.Null(Store.GetVolume(v.Id));
        Assert.Null(Store.FindVolume("pool/a"));
    }

    [Fact]
    public async Task A_second_volume_with_the_same_name_is_refused_and_changes_nothing()
    {
        var first = Volume("pool/a");
        await Store.WriteAsync(w => w.Put(first), Ct);
        var other = Volume("pool/other");
        await Assert.ThrowsAnyAsync<Exception>(() => Store.WriteAsync(w =>
        {
            w.Put(other);
            w.Put(Volume("pool/a"));
        }, Ct));
        Assert.Null(Store.GetVolume(other.Id));
        Assert.Equal(first.Id, Store.FindVolume("pool/a")!.Id);
    }

    [Fact]
    public async Task Snapshots_list_per_volume()
    {
        var v1 = Guid.NewGuid();
        var v2 = Guid.NewGuid();
        var s1 = new SnapshotRecord(Guid.NewGuid(), v1, "s1", "available", 10, Now, Now);
        var s2 = new SnapshotRecord(Guid.NewGuid(), v1, "s2", "available", 10, Now.AddSeconds(1), Now, new JsonObject { ["a"] = true });
        var s3 = new SnapshotRecord(Guid.NewGuid(), v2, "s1", "available", 10, Now, Now);
        await Store.WriteAsync(w =>
        {
            w.Put(s2);
            w.Put(s1);
            w.Put(s3);
        }, Ct);
        Assert.Equal([s1.Id, s2.Id], Store.ListSnapshots(v1).Select(s => s.Id));
        Assert.Equal(3, Store.ListSnapshots().Count);
        AssertSame(s2, Store.GetSnapshot(s2.Id));
        await Store.WriteAsync(w => w.DeleteSnapshot(s1.Id), Ct);
        Assert.Null(Store.GetSnapshot(s1.Id));
    }

    [Fact]
    public async Task Target_round_trips_luns_initiators_and_chap()
    {
        var t = new TargetRecord("iqn.2026-01.org.example:t1",
            [new TargetLun(0, "pool/a"), new TargetLun(1, "pool/b", "snap")],
            ["iqn.1993-08.org.debian:01:aa", "iqn.1993-08.org.debian:01:bb"],
            new ChapCredential("u", "sealed:abc"), null, "0.0.0.0:3260", Now, new JsonObject { ["x"] = 1 });
        await Store.WriteAsync(w => w.Put(t), Ct);
        AssertSame(t, Store.GetTarget(t.Iqn));
        Assert.Single(Store.ListTargets());
        await Store.WriteAsync(w => w.DeleteTarget(t.Iqn), Ct);
        Assert.Null(Store.GetTarget(t.Iqn));
    }

    [Fact]
    public async Task Job_round_trips_request_data_steps_and_conflict_keys()
    {
        var j = Job() with
        {
            State = JobState.Running,
            Phase = "start_creating_clones",
            Progress = 0.25,
            Started = Now,
            Data = new JsonObject { ["num_clones"] = 3 },
            Steps = [new JobStep("clone", ItemState.Done, Now, Now), new JobStep("target", ItemState.Failed, Now, Now, "boom")],
            Attempts = 2,
            CancelRequested = true,
            ConflictKeys = ["pool/a", "iqn.x"],
            Request = new JsonObject { ["clones"] = new JsonArray(new JsonObject { ["dst"] = "pool/a" }) },
        };
        await Store.WriteAsync(w => w.Put(j), Ct);
        AssertSame(j, Store.GetJob(j.Id));
    }

    [Fact]
    public async Task Every_put_of_a_job_is_stored_whole_even_when_request_and_keys_are_the_same_objects()
    {
        var a = new JsonObject { ["clones"] = new JsonArray(new JsonObject { ["dst"] = "pool/a" }) };
        var keys = new List<string> { "pool/a" };
        var j = Job() with { Request = a, ConflictKeys = keys };
        await Store.WriteAsync(w => w.Put(j), Ct);
        await Store.WriteAsync(w => w.Put(j with { Phase = "p1", State = JobState.Running }), Ct);
        Assert.Equal("p1", Store.GetJob(j.Id)!.Phase);
        Assert.Equal("pool/a", (string?)Store.GetJob(j.Id)!.Request!["clones"]![0]!["dst"]);

        var b = new JsonObject { ["other"] = true };
        await Store.WriteAsync(w => w.Put(j with { Request = b, ConflictKeys = ["pool/b"], Phase = "p2" }), Ct);
        var back = Store.GetJob(j.Id)!;
        Assert.True((bool)back.Request!["other"]!);
        Assert.Equal(["pool/b"], back.ConflictKeys!);

        // A put rolled back with its caller's change set must not count as stored.
        var c = new JsonObject { ["c"] = 1 };
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.WriteAsync(w =>
        {
            w.Put(j with { Request = c });
            throw new InvalidOperationException("rolled back");
        }, Ct));
        Assert.True((bool)Store.GetJob(j.Id)!.Request!["other"]!);
        await Store.WriteAsync(w => w.Put(j with { Request = c, Phase = "p3" }), Ct);
        await Store.WriteAsync(w => w.Put(j with { Request = a, ConflictKeys = keys, Phase = "p4" }), Ct);
        back = Store.GetJob(j.Id)!;
        Assert.Equal("p4", back.Phase);
        Assert.Equal("pool/a", (string?)back.Request!["clones"]![0]!["dst"]);
        Assert.Equal(["pool/a"], back.ConflictKeys!);
    }

    [Fact]
    public async Task Jobs_list_newest_first_filtered_by_state_and_limited()
    {
        var a = Job(created: Now.AddMinutes(-3));
        var b = Job(state: JobState.Succeeded, created: Now.AddMinutes(-2));
        var c = Job(created: Now.AddMinutes(-1));
        await Store.WriteAsync(w =>
        {
            w.Put(b);
            w.Put(a);
            w.Put(c);
        }, Ct);
        Assert.Equal([c.Id, b.Id, a.Id], Store.ListJobs().Select(j => j.Id));
        Assert.Equal([c.Id, a.Id], Store.ListJobs(JobState.Pending).Select(j => j.Id));
        Assert.Equal([c.Id], Store.ListJobs(limit: 1).Select(j => j.Id));
    }

    [Fact]
    public async Task Job_items_are_upserted_by_index_and_listed_in_order()
    {
        var j = Job();
        var items = Enumerable.Range(0, 5).Select(i => new JobItem(j.Id, i, "k" + i, ItemState.Pending, null, null, null)).ToArray();
        await Store.WriteAsync(w =>
        {
            w.Put(j);
            foreach (var i in items.Reverse()) w.Put(i);
        }, Ct);
        var done = items[2] with { State = ItemState.Failed, Error = "bad", Started = Now, Finished = Now, Data = new JsonObject { ["t"] = 1.5 } };
        await Store.WriteAsync(w => w.Put(done), Ct);
        var back = Store.ListJobItems(j.Id);
        Assert.Equal([0, 1, 2, 3, 4], back.Select(i => i.Index));
        AssertSame(done, back[2]);
        Assert.Empty(Store.ListJobItems(Guid.NewGuid()));
    }

    [Fact]
    public async Task Job_logs_are_numbered_per_job_and_page_after_a_sequence()
    {
        var j1 = Guid.NewGuid();
        var j2 = Guid.NewGuid();
        await Store.WriteAsync(w =>
        {
            w.AppendLog(j1, "info", "one");
            w.AppendLog(j2, "info", "other");
            w.AppendLog(j1, "error", "two");
        }, Ct);
        await Store.WriteAsync(w => w.AppendLog(j1, "info", "three"), Ct);
        var all = Store.ListJobLogs(j1);
        Assert.Equal([1L, 2L, 3L], all.Select(l => l.Seq));
        Assert.Equal(["one", "two", "three"], all.Select(l => l.Message));
        Assert.Equal("error", all[1].Level);
        Assert.Equal(["three"], Store.ListJobLogs(j1, afterSeq: 2).Select(l => l.Message));
        Assert.Equal(["two"], Store.ListJobLogs(j1, afterSeq: 1, limit: 1).Select(l => l.Message));
        Assert.Equal([1L], Store.ListJobLogs(j2).Select(l => l.Seq));
    }

    [Fact]
    public async Task Deleting_a_job_deletes_its_items_and_logs()
    {
        var j = Job();
        await Store.WriteAsync(w =>
        {
            w.Put(j);
            w.Put(new JobItem(j.Id, 0, "k", ItemState.Pending, null, null, null));
            w.AppendLog(j.Id, "info", "x");
        }, Ct);
        await Store.WriteAsync(w => w.DeleteJob(j.Id), Ct);
        Assert.Null(Store.GetJob(j.Id));
        Assert.Empty(Store.ListJobItems(j.Id));
        Assert.Empty(Store.ListJobLogs(j.Id));
    }

    [Fact]
    public async Task Expired_jobs_are_those_finished_before_the_cutoff_or_beyond_the_newest_kept()
    {
        var old = Job(state: JobState.Succeeded, finished: Now.AddDays(-10));
        var recent = Enumerable.Range(1, 4).Select(i => Job(state: JobState.Failed, finished: Now.AddMinutes(-i))).ToArray();
        var running = Job(state: JobState.Running, created: Now.AddDays(-20));
        await Store.WriteAsync(w =>
        {
            w.Put(old);
            w.Put(running);
            foreach (var j in recent) w.Put(j);
        }, Ct);
        Assert.Equal([old.Id], Store.ListExpiredJobs(Now.AddDays(-7), 100));
        var expired = Store.ListExpiredJobs(Now.AddDays(-7), 2).ToHashSet();
        Assert.Equal(new HashSet<Guid> { old.Id, recent[2].Id, recent[3].Id }, expired);
    }

    [Fact]
    public async Task A_throwing_change_set_fails_only_its_caller()
    {
        var good = Volume("pool/good");
        var bad = Volume("pool/bad");
        var t1 = Store.WriteAsync(w => w.Put(good), Ct);
        var t2 = Store.WriteAsync(w =>
        {
            w.Put(bad);
            throw new InvalidOperationException("no");
        }, Ct);
        await t1;
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => t2);
        Assert.Equal("no", ex.Message);
        Assert.NotNull(Store.GetVolume(good.Id));
        Assert.Null(Store.GetVolume(bad.Id));
    }

    [Fact]
    public async Task Concurrent_writes_are_each_all_or_nothing()
    {
        const int Writers = 200;
        var tasks = Enumerable.Range(0, Writers).Select(n => Task.Run(() => Store.WriteAsync(w =>
        {
            w.Put(Volume($"pool/w{n}/a"));
            w.Put(Volume($"pool/w{n}/b"));
            if (n % 3 == 0) throw new InvalidOperationException("writer " + n);
            w.Put(Volume($"pool/w{n}/c"));
        }, Ct), Ct)).ToArray();
        for (var n = 0; n < Writers; n++)
        {
            if (n % 3 == 0) await Assert.ThrowsAsync<InvalidOperationException>(() => tasks[n]);
            else await tasks[n];
        }
        var names = Store.ListVolumes().Select(v => v.Name).ToHashSet();
        for (var n = 0; n < Writers; n++)
        {
            var present = Leaves.Count(s => names.Contains($"pool/w{n}/{s}"));
            Assert.Equal(n % 3 == 0 ? 0 : 3, present);
        }
    }

    [Fact]
    public async Task Committed_writes_survive_reopening()
    {
        var v = Volume("pool/a");
        var j = Job();
        await Store.WriteAsync(w =>
        {
            w.Put(v);
            w.Put(j);
            w.AppendLog(j.Id, "info", "x");
        }, Ct);
        var store = Reopen();
        AssertSame(v, store.GetVolume(v.Id));
        AssertSame(j, store.GetJob(j.Id));
        await store.WriteAsync(w => w.AppendLog(j.Id, "info", "y"), Ct);
        Assert.Equal([1L, 2L], store.ListJobLogs(j.Id).Select(l => l.Seq));
    }
}
