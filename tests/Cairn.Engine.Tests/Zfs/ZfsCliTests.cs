using Cairn.Engine.Zfs;

namespace Cairn.Engine.Tests.Zfs;

/// <summary>Which zfs commands go through the one-at-a-time mount gate (zfs-fuse deadlocks on parallel mounting clones).</summary>
public sealed class ZfsCliTests
{
    [Theory]
    [InlineData(true, "clone", "-o", "cairn:managed=volume:p/a", "p/g@1", "p/a")]
    [InlineData(false, "clone", "-o", "mountpoint=none", "p/g@1", "p/a")]
    [InlineData(true, "create", "-o", "cairn:managed=folder:p/f", "p/f")]
    [InlineData(true, "inherit", "mountpoint", "p/a")]
    [InlineData(true, "set", "mountpoint=/mnt/a", "p/a")]
    [InlineData(true, "mount", "p/a")]
    [InlineData(true, "destroy", "-r", "p/a")]
    [InlineData(false, "destroy", "p/a@1")]
    [InlineData(false, "snapshot", "p/a@1")]
    [InlineData(false, "set", "cairn:volsize=4096", "p/a")]
    [InlineData(false, "get", "-H", "mountpoint", "p/a")]
    public void Mounting_and_unmounting_commands_are_the_serialized_ones(bool serialized, params string[] args) =>
        Assert.Equal(serialized, ZfsCli.MountsOrUnmounts(args));
}
