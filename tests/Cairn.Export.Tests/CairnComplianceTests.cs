using System.Runtime.CompilerServices;
using Cairn.Core.Export;
using Cairn.Core.Storage;
using Cairn.Export.Tests.Support;
using Cairn.Hosting;

namespace Cairn.Export.Tests;

/// <summary>The compliance suite against <see cref="CairnExporter"/>: Cairn's own iSCSI target in process, exporting embedded-engine volumes.</summary>
public sealed class CairnComplianceTests(CairnTargetFixture target) : ExporterComplianceTests, IClassFixture<CairnTargetFixture>
{
    protected override IVolumeEngine Engine => target.Router;
    protected override string Pool => CairnTargetFixture.PoolName;
    protected override string Portal => target.Portal;

    /// <summary>Cairn's target shows LUN numbers as they are.</summary>
    protected override int InitiatorLun(int cairnLun) => cairnLun;

    protected override ITargetExporter NewExporter(ExportContext context) => new CairnExporter(target.Registry, context, new CairnOptions());

    protected override IReadOnlyList<string> LogLines() => target.Log.Snapshot();

    protected override Task<string> DescribeLiveAsync(string iqn)
    {
        var t = target.Registry.Find(iqn);
        Assert.NotNull(t);
        // The logical units by identity: an unchanged target keeps its units (their reservations and unit attentions).
        var units = string.Join(",", t.Luns.OrderBy(l => l.Key).Select(l => $"{l.Key}:{RuntimeHelpers.GetHashCode(l.Value)}"));
        return Task.FromResult($"luns {units}; initiators {string.Join(",", t.Initiators)}; chap {t.Chap?.User}; mutual {t.MutualChap?.User}");
    }
}
