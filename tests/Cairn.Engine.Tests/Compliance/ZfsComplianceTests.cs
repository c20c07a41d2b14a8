using Cairn.Core.Storage;
using Cairn.Engine.Tests.Zfs;
using Cairn.Engine.Zfs;

namespace Cairn.Engine.Tests.Compliance;

/// <summary>The compliance suite on the ZFS engine, against a real zfs-fuse pool.</summary>
[Collection("zfs")]
public sealed class ZfsComplianceTests(ZfsPoolFixture pool) : EngineComplianceTests
{
    protected override IVolumeEngine Engine => pool.Engine;
    protected override string Pool => pool.Pool;

    // A ZFS engine keeps nothing but a cache: a second instance over the same pool is what a restart finds.
    protected override (IVolumeEngine Engine, Func<IVolumeEngine> Reopen) OpenCrashable() => (new ZfsEngine(), () => new ZfsEngine());
}
