using Cairn.Core.Export;
using Cairn.Core.Pools;
using Cairn.Core.Processes;
using Cairn.Core.Storage;
using Cairn.Engine.Tests.Zfs;
using Cairn.Export.Tests.Support;
using Cairn.Export.Tgt;
using Cairn.TestSupport;

namespace Cairn.Export.Tests;

/// <summary>The compliance suite against <see cref="TgtExporter"/>: a tgtd of this class's own, exporting ZFS volumes (zfs-fuse).</summary>
[Collection("zfs")]
public sealed class TgtComplianceTests : ExporterComplianceTests, IClassFixture<TgtdFixture>
{
    private readonly ZfsPoolFixture _zfs;
    private readonly TgtdFixture _tgtd;
    private readonly PoolRouter _router = new();
    private readonly CapturingLogger<TgtExporter> _exporterLog = new();
    private readonly CapturingLogger<ProcessRunner> _runnerLog = new();

    public TgtComplianceTests(ZfsPoolFixture zfs, TgtdFixture tgtd)
    {
        _zfs = zfs;
        _tgtd = tgtd;
        _router.Bind(zfs.Pool, zfs.Engine);
    }

    protected override IVolumeEngine Engine => _router;
    protected override string Pool => _zfs.Pool;
    protected override string Portal => _tgtd.Portal;

    /// <summary>tgt keeps LUN 0 for its controller: Cairn's LUN n is tgt's LUN n+1.</summary>
    protected override int InitiatorLun(int cairnLun) => cairnLun + 1;

    protected override ITargetExporter NewExporter(ExportContext context) =>
        new TgtExporter(new TgtOptions { ControlPort = _tgtd.ControlPort }, context, new ProcessRunner(_runnerLog), _exporterLog);

    protected override IReadOnlyList<string> LogLines() => [.. _runnerLog.Snapshot(), .. _exporterLog.Snapshot()];

    protected override async Task<string> DescribeLiveAsync(string iqn)
    {
        var r = await _tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "show");
        r.ThrowIfFailed();
        var t = TgtParser.ParseTargets(r.StdOut).Single(x => x.Name == iqn);
        return $"tid {t.Tid}; luns {string.Join(",", t.Luns)}; acl {string.Join(",", t.Acl)}; accounts {string.Join(",", t.Accounts)}; out {t.OutgoingAccount}; {t.State}";
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        _router.Dispose(); // routes only; the engine is the fixture's own
    }
}
