using Cairn.Core;
using Cairn.Core.Processes;
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

    [Fact]
    public void The_zfs_fuse_mount_limit_is_named_instead_of_its_misleading_fuse_module_hint()
    {
        var r = new ProcessResult(new ProcessSpec("zfs", ["inherit", "mountpoint", "p/c/q1018"]), 1, "",
            "cannot mount 'p/c/q1018': Input/output error.\nMake sure the FUSE module is loaded.\n", TimeSpan.Zero, false);
        var e = ZfsCli.Map(r, "cannot mount p/c/q1018");
        Assert.Equal(ErrorKind.NoSpace, e.Kind);
        Assert.Contains("at most about 1,000", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("FUSE module", e.Message, StringComparison.Ordinal);
    }
}
