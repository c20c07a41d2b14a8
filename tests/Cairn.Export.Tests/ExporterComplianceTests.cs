using System.Diagnostics;
using Cairn.Core.Export;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Cairn.Export.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Export.Tests;

/// <summary>
/// What every <see cref="ITargetExporter"/> must do, checked from the initiator side with libiscsi (its tools and the
/// library itself): data reaches the volume, snapshot LUNs are read-only, the allow-list decides who logs in and who
/// discovers a target, one-way and mutual CHAP hold, no secret is logged, a repeated apply or reconcile changes nothing,
/// and live sessions are reported. One subclass per exporter supplies the exporter, its portal, how it numbers LUNs and
/// a pool it accepts.
/// </summary>
public abstract class ExporterComplianceTests : IAsyncLifetime
{
    protected const string Initiator = "iqn.2026-01.org.example:node-a";
    protected const string Other = "iqn.2026-01.org.example:node-b";
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ExportContext? _context;
    private ITargetExporter? _exporter;

    /// <summary>The engine the exporter reaches volumes through.</summary>
    protected abstract IVolumeEngine Engine { get; }

    /// <summary>A pool of <see cref="Engine"/> that this exporter accepts.</summary>
    protected abstract string Pool { get; }

    /// <summary>HOST:PORT initiators reach the exporter's target at.</summary>
    protected abstract string Portal { get; }

    /// <summary>The LUN number an initiator sees for Cairn's LUN <paramref name="cairnLun"/>.</summary>
    protected abstract int InitiatorLun(int cairnLun);

    /// <summary>A new exporter on the same live target (a new Cairn process would make one: no memory of what was applied).</summary>
    protected abstract ITargetExporter NewExporter(ExportContext context);

    /// <summary>Every log line the exporter and the target it drives wrote so far (all levels).</summary>
    protected abstract IReadOnlyList<string> LogLines();

    /// <summary>The exporter's own view of one live target, as text: equal before and after a no-op apply.</summary>
    protected abstract Task<string> DescribeLiveAsync(string iqn);

    protected ExportContext Context => _context!;
    protected ITargetExporter Exporter => _exporter!;

    public virtual ValueTask InitializeAsync()
    {
        _context = new ExportContext(Engine);
        _exporter = NewExporter(_context);
        return ValueTask.CompletedTask;
    }

    public virtual async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        if (_exporter is null) return;
        await _exporter.ReconcileAsync([], CancellationToken.None); // this test's targets go; the target outlives the test
        await _exporter.DisposeAsync();
    }

    protected virtual async Task<string> CreateVolumeAsync(long size)
    {
        var name = $"{Pool}/c-{Guid.NewGuid().ToString("N")[..8]}";
        await Engine.CreateVolumeAsync(name, size, ct: Ct);
        return name;
    }

    protected virtual async Task CreateSnapshotAsync(string volume, string snapshot) => await Engine.CreateSnapshotAsync(volume, snapshot, Ct);

    protected static string NewIqn() => "iqn.2026-01.org.example:t-" + Guid.NewGuid().ToString("N")[..10];

    protected static TargetRecord Target(string iqn, string volume, IReadOnlyList<string>? initiators = null, ChapCredential? chap = null, ChapCredential? mutual = null) =>
        new(iqn, [new TargetLun(0, volume)], initiators ?? [Initiator], chap, mutual, null, DateTimeOffset.UtcNow);

    protected Task Apply(params TargetChange[] changes) => Exporter.ApplyAsync(changes, Ct);

    protected string Address(string iqn, int cairnLun = 0, string? user = null, string? secret = null) =>
        IscsiTools.Address(Portal, iqn, InitiatorLun(cairnLun), user, secret);

    private async Task<long?> BytesAsync(string initiator, string iqn, int cairnLun = 0, string? user = null, string? secret = null,
        IReadOnlyDictionary<string, string?>? env = null) =>
        (await IscsiTools.CapacityAsync(initiator, Address(iqn, cairnLun, user, secret), env))?.Bytes;

    private LibiscsiSession Login(string iqn, int cairnLun = 0, int blockSize = 512, (string, string)? chap = null, string initiator = Initiator) =>
        LibiscsiSession.Open(Portal, initiator, iqn, InitiatorLun(cairnLun), blockSize, chap);

    private async Task<int> BlockSizeAsync(string iqn, int cairnLun = 0, string? user = null, string? secret = null)
    {
        var c = await IscsiTools.CapacityAsync(Initiator, Address(iqn, cairnLun, user, secret));
        Assert.NotNull(c);
        return c.Value.BlockSize;
    }

    private static byte[] Pattern(int length)
    {
        var b = new byte[length];
        Random.Shared.NextBytes(b);
        return b;
    }

    private async Task<byte[]> ReadVolumeAsync(string volume, long offset, int length)
    {
        using var dev = await Engine.OpenAsync(volume, Ct);
        var b = new byte[length];
        dev.Read(offset, b);
        return b;
    }

    private async Task WriteVolumeAsync(string volume, long offset, byte[] data)
    {
        using var dev = await Engine.OpenAsync(volume, Ct);
        dev.Write(offset, data, fua: true);
        dev.Flush();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), what + " not seen within 60 s");
            await Task.Delay(100, Ct);
        }
    }

    [Fact]
    public async Task Data_written_through_libiscsi_lands_in_the_volume_and_removing_the_target_takes_it_away()
    {
        var v = await CreateVolumeAsync(16 << 20);
        var iqn = NewIqn();
        var t = Target(iqn, v);
        await Apply(new TargetChange(null, t));

        Assert.Equal(16L << 20, await BytesAsync(Initiator, iqn));
        var data = Pattern(256 << 10);
        using (var s = Login(iqn, blockSize: await BlockSizeAsync(iqn)))
        {
            s.Write(1 << 20, data);
            Assert.Equal(data, s.Read(1 << 20, data.Length));
        }

        await Apply(new TargetChange(t, null));
        Assert.DoesNotContain(iqn, await IscsiTools.DiscoverAsync(Portal, Initiator));
        Assert.Null(await BytesAsync(Initiator, iqn));
        Assert.Equal(data, await ReadVolumeAsync(v, 1 << 20, data.Length));
    }

    [Fact]
    public async Task A_snapshot_lun_shows_the_snapshot_and_refuses_writes()
    {
        var v = await CreateVolumeAsync(8 << 20);
        var before = Pattern(64 << 10);
        await WriteVolumeAsync(v, 0, before);
        await CreateSnapshotAsync(v, "s1");
        var after = Pattern(64 << 10);
        await WriteVolumeAsync(v, 0, after);

        var iqn = NewIqn();
        await Apply(new TargetChange(null, new TargetRecord(iqn, [new TargetLun(0, v), new TargetLun(3, v, "s1")], [Initiator], null, null, null, DateTimeOffset.UtcNow)));

        Assert.Equal(8L << 20, await BytesAsync(Initiator, iqn, cairnLun: 3));
        var blockSize = await BlockSizeAsync(iqn, cairnLun: 3);
        using (var snap = Login(iqn, cairnLun: 3, blockSize: blockSize))
        {
            Assert.Equal(before, snap.Read(0, before.Length));
            var refused = snap.TryWrite(0, Pattern(blockSize));
            Assert.NotNull(refused);
            Assert.Contains("DATA PROTECTION", refused, StringComparison.Ordinal);
            Assert.Equal(before, snap.Read(0, before.Length));
        }
        using var vol = Login(iqn, blockSize: await BlockSizeAsync(iqn));
        Assert.Equal(after, vol.Read(0, after.Length));
    }

    [Fact]
    public async Task A_volume_mapped_read_only_reads_and_refuses_writes_without_changing_data()
    {
        var v = await CreateVolumeAsync(8 << 20);
        var data = Pattern(64 << 10);
        await WriteVolumeAsync(v, 0, data);

        var iqn = NewIqn();
        await Apply(new TargetChange(null, new TargetRecord(iqn, [new TargetLun(0, v, ReadOnly: true)], [Initiator], null, null, null, DateTimeOffset.UtcNow)));

        var blockSize = await BlockSizeAsync(iqn);
        using (var s = Login(iqn, blockSize: blockSize))
        {
            Assert.Equal(data, s.Read(0, data.Length));
            var refused = s.TryWrite(0, Pattern(blockSize));
            Assert.NotNull(refused);
            Assert.Contains("DATA PROTECTION", refused, StringComparison.Ordinal);
            Assert.Equal(data, s.Read(0, data.Length));
        }
        Assert.Equal(data, await ReadVolumeAsync(v, 0, data.Length));
    }

    [Fact]
    public async Task An_unlisted_initiator_is_refused_at_login_and_does_not_discover_the_target()
    {
        var iqn = NewIqn();
        await Apply(new TargetChange(null, Target(iqn, await CreateVolumeAsync(4 << 20))));

        Assert.Contains(iqn, await IscsiTools.DiscoverAsync(Portal, Initiator));
        Assert.DoesNotContain(iqn, await IscsiTools.DiscoverAsync(Portal, Other));
        Assert.Equal(4L << 20, await BytesAsync(Initiator, iqn));
        Assert.Null(await BytesAsync(Other, iqn));
        Assert.Throws<InvalidOperationException>(() => Login(iqn, initiator: Other).Dispose());
    }

    [Fact]
    public async Task Discovery_shows_each_initiator_only_its_own_targets()
    {
        var a = NewIqn();
        var b = NewIqn();
        var nobody = NewIqn();
        await Apply(new TargetChange(null, Target(a, await CreateVolumeAsync(1 << 20))),
            new TargetChange(null, Target(b, await CreateVolumeAsync(1 << 20), initiators: [Other])),
            new TargetChange(null, Target(nobody, await CreateVolumeAsync(1 << 20), initiators: [])));

        var seenByA = await IscsiTools.DiscoverAsync(Portal, Initiator);
        var seenByB = await IscsiTools.DiscoverAsync(Portal, Other);
        Assert.Contains(a, seenByA);
        Assert.DoesNotContain(b, seenByA);
        Assert.Contains(b, seenByB);
        Assert.DoesNotContain(a, seenByB);
        // An empty allow-list lets nobody in and shows the target to nobody.
        Assert.DoesNotContain(nobody, seenByA.Concat(seenByB));
        Assert.Null(await BytesAsync(Initiator, nobody));
        Assert.Null(await BytesAsync(Other, nobody));
    }

    [Fact]
    public async Task Allowing_and_denying_an_initiator_changes_who_may_log_in()
    {
        var iqn = NewIqn();
        var t = Target(iqn, await CreateVolumeAsync(4 << 20));
        await Apply(new TargetChange(null, t));
        Assert.Null(await BytesAsync(Other, iqn));

        var both = t with { Initiators = [Initiator, Other] };
        await Apply(new TargetChange(t, both));
        Assert.NotNull(await BytesAsync(Other, iqn));
        Assert.Contains(iqn, await IscsiTools.DiscoverAsync(Portal, Other));

        var onlyOther = both with { Initiators = [Other] };
        await Apply(new TargetChange(both, onlyOther));
        Assert.Null(await BytesAsync(Initiator, iqn));
        Assert.DoesNotContain(iqn, await IscsiTools.DiscoverAsync(Portal, Initiator));
        Assert.NotNull(await BytesAsync(Other, iqn));
    }

    [Fact]
    public async Task One_way_chap_admits_only_the_right_secret()
    {
        var iqn = NewIqn();
        var user = "user-" + iqn[^6..];
        await Apply(new TargetChange(null, Target(iqn, await CreateVolumeAsync(4 << 20), chap: Context.Chap(user, "s3cret-one-way"))));

        Assert.Null(await BytesAsync(Initiator, iqn));
        Assert.Null(await BytesAsync(Initiator, iqn, user: user, secret: "wrong-secret-x"));
        Assert.Equal(4L << 20, await BytesAsync(Initiator, iqn, user: user, secret: "s3cret-one-way"));
        using var s = Login(iqn, blockSize: await BlockSizeAsync(iqn, user: user, secret: "s3cret-one-way"), chap: (user, "s3cret-one-way"));
        Assert.Equal(4096, s.Read(0, 4096).Length);
    }

    [Fact]
    public async Task Mutual_chap_makes_the_target_prove_its_secret()
    {
        var iqn = NewIqn();
        var user = "in-" + iqn[^6..];
        var back = "out-" + iqn[^6..];
        await Apply(new TargetChange(null, Target(iqn, await CreateVolumeAsync(4 << 20), chap: Context.Chap(user, "s3cret-incoming"), mutual: Context.Chap(back, "s3cret-outgoing"))));

        Assert.Equal(4L << 20, await BytesAsync(Initiator, iqn, user: user, secret: "s3cret-incoming", env: IscsiTools.MutualChap(back, "s3cret-outgoing")));
        Assert.Null(await BytesAsync(Initiator, iqn, user: user, secret: "s3cret-incoming", env: IscsiTools.MutualChap(back, "not-the-secret")));
    }

    [Fact]
    public async Task No_secret_is_ever_logged()
    {
        var iqn = NewIqn();
        const string Secret = "never-in-a-log-line";
        const string Mutual = "nor-the-mutual-one";
        var user = "u-" + iqn[^6..];
        var t = Target(iqn, await CreateVolumeAsync(4 << 20), chap: Context.Chap(user, Secret), mutual: Context.Chap("m-" + iqn[^6..], Mutual));
        await Apply(new TargetChange(null, t));
        Assert.NotNull(await BytesAsync(Initiator, iqn, user: user, secret: Secret, env: IscsiTools.MutualChap("m-" + iqn[^6..], Mutual)));
        Assert.Null(await BytesAsync(Initiator, iqn, user: user, secret: "a-wrong-secret"));
        // A second exporter does not know what was applied and sets everything again.
        await using (var fresh = NewExporter(Context)) await fresh.ReconcileAsync([t], Ct);
        await Apply(new TargetChange(t, null));

        var lines = LogLines();
        Assert.Contains(lines, l => l.Contains(iqn, StringComparison.OrdinalIgnoreCase)); // the log covered this target
        Assert.DoesNotContain(lines, l => l.Contains(Secret, StringComparison.Ordinal) || l.Contains(Mutual, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Applying_or_reconciling_twice_changes_nothing_and_keeps_the_session()
    {
        var iqn = NewIqn();
        var user = "twice-" + iqn[^6..];
        var t = Target(iqn, await CreateVolumeAsync(4 << 20), chap: Context.Chap(user, "s3cret-twice"));
        await Apply(new TargetChange(null, t));
        var first = await DescribeLiveAsync(iqn);
        var data = Pattern(64 << 10);
        using var s = Login(iqn, blockSize: await BlockSizeAsync(iqn, user: user, secret: "s3cret-twice"), chap: (user, "s3cret-twice"));
        s.Write(0, data);

        await Apply(new TargetChange(null, t));
        await Apply(new TargetChange(t, t));
        await Exporter.ReconcileAsync([t], Ct);
        await Exporter.ReconcileAsync([t], Ct);

        Assert.Equal(first, await DescribeLiveAsync(iqn));
        Assert.Equal(data, s.Read(0, data.Length)); // the session lived through it
        Assert.Single(await IscsiTools.DiscoverAsync(Portal, Initiator), x => x == iqn);
        Assert.Null(await BytesAsync(Initiator, iqn));
        Assert.Equal(4L << 20, await BytesAsync(Initiator, iqn, user: user, secret: "s3cret-twice"));
    }

    [Fact]
    public async Task A_live_session_is_reported_with_its_initiator_and_address()
    {
        var iqn = NewIqn();
        await Apply(new TargetChange(null, Target(iqn, await CreateVolumeAsync(4 << 20))));
        Assert.Empty(Exporter.Sessions(iqn));

        using (var s = Login(iqn))
        {
            await WaitUntilAsync(() => Exporter.Sessions(iqn).Count > 0, "the session");
            var seen = Assert.Single(Exporter.Sessions(iqn));
            Assert.Equal(iqn, seen.Target, ignoreCase: true);
            Assert.Equal(Initiator, seen.Initiator, ignoreCase: true);
            Assert.Equal("127.0.0.1", seen.Address);
        }
        await WaitUntilAsync(() => Exporter.Sessions(iqn).Count == 0, "the end of the session");
    }

    [Fact]
    public async Task Ending_sessions_logs_initiators_out_and_lets_them_back_in()
    {
        var iqn = NewIqn();
        await Apply(new TargetChange(null, Target(iqn, await CreateVolumeAsync(4 << 20), [Initiator, Other])));
        using (Login(iqn))
        using (Login(iqn, initiator: Other))
        {
            await WaitUntilAsync(() => Exporter.Sessions(iqn).Count == 2, "both sessions");
            Assert.Equal(1, await Exporter.EndSessionsAsync(iqn, Other, Ct));
            await WaitUntilAsync(() => Exporter.Sessions(iqn).All(x => !string.Equals(x.Initiator, Other, StringComparison.OrdinalIgnoreCase)), "the end of the other initiator's session");
            Assert.Contains(Exporter.Sessions(iqn), x => string.Equals(x.Initiator, Initiator, StringComparison.OrdinalIgnoreCase));

            Assert.Equal(1, await Exporter.EndSessionsAsync(iqn, null, Ct));
            await WaitUntilAsync(() => Exporter.Sessions(iqn).Count == 0, "the end of every session");
        }
        // Ended is not denied: the initiator logs in again.
        using var again = Login(iqn, initiator: Other);
        Assert.Equal(4096, again.Read(0, 4096).Length);
        Assert.Equal(0, await Exporter.EndSessionsAsync(NewIqn(), null, Ct));
    }

    [Fact]
    public async Task A_lun_added_to_a_live_target_is_served_and_a_removed_one_is_not()
    {
        var iqn = NewIqn();
        var first = Target(iqn, await CreateVolumeAsync(4 << 20));
        await Apply(new TargetChange(null, first));
        var second = first with { Luns = [.. first.Luns, new TargetLun(1, await CreateVolumeAsync(8 << 20))] };
        await Apply(new TargetChange(first, second));
        Assert.Equal(8L << 20, await BytesAsync(Initiator, iqn, cairnLun: 1));
        Assert.Equal(4L << 20, await BytesAsync(Initiator, iqn));

        await Apply(new TargetChange(second, first));
        Assert.Null(await BytesAsync(Initiator, iqn, cairnLun: 1));
        Assert.Equal(4L << 20, await BytesAsync(Initiator, iqn));
    }
}
