using System.Diagnostics;
using Cairn.Core;
using Cairn.Core.Export;
using Cairn.Core.Pools;
using Cairn.Core.Processes;
using Cairn.Core.State;
using Cairn.Engine;
using Cairn.Engine.Tests.Zfs;
using Cairn.Export.Tests.Support;
using Cairn.Export.Tgt;
using Cairn.TestSupport;

namespace Cairn.Export.Tests;

/// <summary>
/// What only the tgt exporter does (its mapping onto tgtd, foreign targets, tgtd restarts, what it refuses), against a
/// real tgtd of this class's own exporting ZFS volumes (zfs-fuse). The behaviour both exporters share is in
/// <see cref="ExporterComplianceTests"/> (<see cref="TgtComplianceTests"/>).
/// </summary>
[Collection("zfs")]
public sealed class TgtExporterTests : IClassFixture<TgtdFixture>, IAsyncLifetime
{
    private const string Initiator = "iqn.2026-01.org.example:node-a";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ZfsPoolFixture _zfs;
    private readonly TgtdFixture _tgtd;
    private readonly PoolRouter _router = new();
    private readonly ExportContext _context;
    private readonly CapturingLogger<TgtExporter> _exporterLog = new();
    private readonly CapturingLogger<ProcessRunner> _runnerLog = new();
    private readonly string _embeddedDir = Path.Combine(Path.GetTempPath(), "cairn-tgt-tests", Guid.NewGuid().ToString("N"));
    private EmbeddedEngine? _embedded;
    private TgtExporter _exporter = null!;

    public TgtExporterTests(ZfsPoolFixture zfs, TgtdFixture tgtd)
    {
        _zfs = zfs;
        _tgtd = tgtd;
        _router.Bind(zfs.Pool, zfs.Engine);
        _context = new ExportContext(_router);
    }

    public ValueTask InitializeAsync()
    {
        _exporter = NewExporter();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _exporter.DisposeAsync();
        _embedded?.Dispose();
        _router.Dispose(); // routes only; the engines are the fixtures' own
        try { Directory.Delete(_embeddedDir, recursive: true); } catch (IOException) { }
    }

    private TgtExporter NewExporter() =>
        new(new TgtOptions { ControlPort = _tgtd.ControlPort }, _context, new ProcessRunner(_runnerLog), _exporterLog);

    private async Task<string> VolumeAsync(long size)
    {
        var name = $"{_zfs.Pool}/tgt-{Guid.NewGuid().ToString("N")[..8]}";
        await _zfs.Engine.CreateVolumeAsync(name, size, ct: Ct);
        return name;
    }

    private static string NewIqn() => "iqn.2026-01.org.example:t-" + Guid.NewGuid().ToString("N")[..10];

    private static TargetRecord Target(string iqn, string volume, IReadOnlyList<string>? initiators = null, ChapCredential? chap = null, ChapCredential? mutual = null) =>
        new(iqn, [new TargetLun(0, volume)], initiators ?? [Initiator], chap, mutual, null, DateTimeOffset.UtcNow);

    private string Url(string iqn, int lun = 1, string? user = null, string? secret = null) => IscsiTools.Address(_tgtd.Portal, iqn, lun, user, secret);

    private static async Task<long?> CapacityAsync(string initiator, string address) => (await IscsiTools.CapacityAsync(initiator, address))?.Bytes;

    private Task<IReadOnlyList<string>> DiscoverAsync(string initiator) => IscsiTools.DiscoverAsync(_tgtd.Portal, initiator);

    private async Task<IReadOnlyList<TgtTarget>> LiveAsync()
    {
        var r = await _tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "show");
        r.ThrowIfFailed();
        return TgtParser.ParseTargets(r.StdOut);
    }

    private static Task Apply(TgtExporter e, params TargetChange[] changes) => e.ApplyAsync(changes, Ct);

    [Fact]
    public async Task A_target_is_a_tgt_target_in_cairns_tid_range_with_lun_1_on_the_backing_file()
    {
        var v = await VolumeAsync(48 << 20);
        var iqn = NewIqn();
        var t = Target(iqn, v);
        await Apply(_exporter, new TargetChange(null, t));

        Assert.Equal(48L << 20, await CapacityAsync(Initiator, Url(iqn)));
        var live = (await LiveAsync()).Single(x => x.Name == iqn);
        Assert.True(live.Tid >= 1_000_000);
        Assert.Equal(await _zfs.Engine.GetBackingPathAsync(v, ct: Ct), Assert.Single(live.Luns).Path);

        await Apply(_exporter, new TargetChange(t, null));
        Assert.DoesNotContain(await LiveAsync(), x => x.Name == iqn);
        Assert.DoesNotContain(iqn, await DiscoverAsync(Initiator));
    }

    [Fact]
    public async Task A_snapshot_lun_is_a_readonly_tgt_lun_on_the_snapshots_view()
    {
        var v = await VolumeAsync(24 << 20);
        await _zfs.Engine.CreateSnapshotAsync(v, "s1", Ct);
        var iqn = NewIqn();
        var t = new TargetRecord(iqn, [new TargetLun(0, v), new TargetLun(3, v, "s1")], [Initiator], null, null, null, DateTimeOffset.UtcNow);
        await Apply(_exporter, new TargetChange(null, t));

        var live = (await LiveAsync()).Single(x => x.Name == iqn);
        Assert.Equal([(1, false), (4, true)], live.Luns.Select(l => (l.Lun, l.ReadOnly)).Order());
        Assert.Equal(await _zfs.Engine.GetBackingPathAsync(v, "s1", Ct), live.Luns.Single(l => l.Lun == 4).Path);
        Assert.Equal(24L << 20, await CapacityAsync(Initiator, Url(iqn, lun: 4)));
        await Apply(_exporter, new TargetChange(t, null));
    }

    [Fact]
    public async Task Secrets_reach_tgtadm_and_are_shown_redacted()
    {
        var iqn = NewIqn();
        const string Secret = "never-in-a-log-line";
        const string Mutual = "nor-the-mutual-one";
        var t = Target(iqn, await VolumeAsync(16 << 20), chap: _context.Chap("u-" + iqn[^6..], Secret), mutual: _context.Chap("m-" + iqn[^6..], Mutual));
        await Apply(_exporter, new TargetChange(null, t));
        // A second exporter does not know the secrets and sets the accounts again: more commands with secrets.
        await using (var fresh = NewExporter()) await fresh.ReconcileAsync([t], Ct);
        await Apply(_exporter, new TargetChange(t, null));

        var lines = _runnerLog.Lines.Concat(_exporterLog.Lines).ToList();
        Assert.Contains(lines, l => l.Contains("--password ***", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(Secret, StringComparison.Ordinal) || l.Contains(Mutual, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reconcile_removes_stale_cairn_targets_and_leaves_foreign_ones_alone()
    {
        var foreign = NewIqn();
        var foreignTid = Random.Shared.Next(100, 900_000);
        (await _tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", foreignTid.ToString(), "--targetname", foreign)).ThrowIfFailed();
        try
        {
            var stale = NewIqn();
            var kept = NewIqn();
            var keptRecord = Target(kept, await VolumeAsync(16 << 20));
            await Apply(_exporter, new TargetChange(null, Target(stale, await VolumeAsync(16 << 20))), new TargetChange(null, keptRecord));

            // A new Cairn process (no memory of what it applied) reconciles with its records: only `kept` is Cairn's now.
            await using var fresh = NewExporter();
            await fresh.ReconcileAsync([keptRecord], Ct);

            var live = await LiveAsync();
            Assert.DoesNotContain(live, x => x.Name == stale);
            Assert.Contains(live, x => x.Name == kept);
            Assert.Equal(foreignTid, live.Single(x => x.Name == foreign).Tid);

            // A Cairn target whose name a foreign target already has is refused and the foreign one stays.
            var clash = Target(foreign, await VolumeAsync(16 << 20));
            await Assert.ThrowsAsync<CairnException>(() => fresh.ApplyAsync([new TargetChange(null, clash)], Ct));
            Assert.Equal(foreignTid, (await LiveAsync()).Single(x => x.Name == foreign).Tid);
            await fresh.ReconcileAsync([], Ct);
            Assert.Contains(await LiveAsync(), x => x.Name == foreign);
        }
        finally
        {
            await _tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "delete", "--force", "--tid", foreignTid.ToString());
        }
    }

    [Fact]
    public async Task A_tgtd_restart_is_noticed_and_a_reconcile_brings_the_targets_back()
    {
        var iqn = NewIqn();
        var t = Target(iqn, await VolumeAsync(16 << 20), chap: _context.Chap("rs-" + iqn[^6..], "s3cret-restart"));
        await _exporter.ReconcileAsync([t], Ct);
        Assert.False(_exporter.NeedsReconcile);

        await _tgtd.RestartAsync();
        Assert.DoesNotContain(await LiveAsync(), x => x.Name == iqn);
        Assert.True(_exporter.NeedsReconcile);

        await _exporter.ReconcileAsync([t], Ct);
        Assert.False(_exporter.NeedsReconcile);
        Assert.Equal(16L << 20, await CapacityAsync(Initiator, Url(iqn, user: "rs-" + iqn[^6..], secret: "s3cret-restart")));
        await _exporter.ReconcileAsync([], Ct);
    }

    [Fact]
    public async Task A_pool_without_backing_files_is_refused_at_validation_naming_the_pool()
    {
        _embedded = new EmbeddedEngine(_embeddedDir);
        _router.Bind("emb", _embedded);
        await _router.AttachPoolAsync("emb", Ct);
        await _router.CreateVolumeAsync("emb/v", 1 << 20, ct: Ct);

        var e = await Assert.ThrowsAsync<CairnException>(() => _exporter.ValidateAsync(Target(NewIqn(), "emb/v"), Ct));
        Assert.Equal(ErrorKind.NotSupported, e.Kind);
        Assert.Contains("pool emb", e.Message, StringComparison.Ordinal);
        Assert.Contains("--exporter cairn", e.Message, StringComparison.Ordinal);

        await _exporter.ValidateAsync(Target(NewIqn(), await VolumeAsync(1 << 20)), Ct);
    }

    [Fact]
    public async Task One_chap_user_with_two_secrets_is_refused()
    {
        var a = Target(NewIqn(), await VolumeAsync(1 << 20), chap: _context.Chap("shared-user", "s3cret-number-1"));
        await Apply(_exporter, new TargetChange(null, a));
        try
        {
            var b = Target(NewIqn(), await VolumeAsync(1 << 20), chap: _context.Chap("shared-user", "s3cret-number-2"));
            var e = await Assert.ThrowsAsync<CairnException>(() => _exporter.ValidateAsync(b, Ct));
            Assert.Contains("shared-user", e.Message, StringComparison.Ordinal);
            await _exporter.ValidateAsync(b with { Chap = _context.Chap("shared-user", "s3cret-number-1") }, Ct);
        }
        finally { await Apply(_exporter, new TargetChange(a, null)); }
    }
}
