using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>libiscsi's tools (Debian libiscsi-bin) against the real Kestrel-hosted target.</summary>
public class LibiscsiTests
{
    private const string Other = "iqn.2026-11.io.cairn:other";

    [Fact]
    public async Task Discovery_shows_only_the_targets_the_initiator_may_log_in_to()
    {
        await using var host = await TargetHost.StartAsync();
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = Other,
            Luns = new Dictionary<int, Cairn.Iscsi.Scsi.IScsiLogicalUnit> { [0] = new TestLogicalUnit() },
            Initiators = [TargetHost.Initiator2],
        });
        var (exit, output) = await ExternalPeer.RunAsync("iscsi-ls", 20, "-i", TargetHost.Initiator1, $"iscsi://127.0.0.1:{host.Port}");
        Assert.True(exit == 0, output);
        Assert.Contains(TargetHost.TargetIqn, output);
        Assert.Contains($"127.0.0.1:{host.Port},1", output);
        Assert.DoesNotContain(Other, output);

        (exit, output) = await ExternalPeer.RunAsync("iscsi-ls", 20, "-i", TargetHost.Initiator2, $"iscsi://127.0.0.1:{host.Port}");
        Assert.True(exit == 0, output);
        Assert.Contains(Other, output);
        Assert.Contains(TargetHost.TargetIqn, output);

        (exit, output) = await ExternalPeer.RunAsync("iscsi-ls", 20, "-i", "iqn.2026-11.io.cairn:nobody", $"iscsi://127.0.0.1:{host.Port}");
        Assert.DoesNotContain("iqn.2026-11.io.cairn:", output.Replace("iqn.2026-11.io.cairn:nobody", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Inquiry_works_and_a_non_listed_initiator_is_refused()
    {
        await using var host = await TargetHost.StartAsync();
        var (exit, output) = await ExternalPeer.RunAsync("iscsi-inq", 20, "-i", TargetHost.Initiator1, host.Url());
        Assert.True(exit == 0, output);
        Assert.Contains("CAIRN", output);

        (exit, output) = await ExternalPeer.RunAsync("iscsi-inq", 20, "-i", "iqn.2026-11.io.cairn:stranger", host.Url());
        Assert.NotEqual(0, exit);
        Assert.Contains("uthoriz", output); // libiscsi: "Login failed: Target authorization failed" wording
    }

    [Fact]
    public async Task Chap_login_works_and_a_wrong_secret_is_refused()
    {
        await using var host = await TargetHost.StartAsync();
        var t = host.Registry.Find(TargetHost.TargetIqn)!;
        host.Registry.AddOrUpdate(t with { Chap = new ChapSecret("chapuser", "chapsecret123"), MutualChap = new ChapSecret("tgtuser", "targetsecret456") });

        var (exit, output) = await ExternalPeer.RunAsync("iscsi-inq", 20, "-i", TargetHost.Initiator1,
            $"iscsi://chapuser%chapsecret123@127.0.0.1:{host.Port}/{TargetHost.TargetIqn}/0");
        Assert.True(exit == 0, output);

        (exit, output) = await ExternalPeer.RunAsync("iscsi-inq", 20, "-i", TargetHost.Initiator1,
            $"iscsi://chapuser%chapsecret123@127.0.0.1:{host.Port}/{TargetHost.TargetIqn}/0?target_user=tgtuser&target_password=targetsecret456");
        Assert.True(exit == 0, "mutual: " + output);

        (exit, output) = await ExternalPeer.RunAsync("iscsi-inq", 20, "-i", TargetHost.Initiator1,
            $"iscsi://chapuser%wrongsecret@127.0.0.1:{host.Port}/{TargetHost.TargetIqn}/0");
        Assert.NotEqual(0, exit);

        (exit, output) = await ExternalPeer.RunAsync("iscsi-inq", 20, "-i", TargetHost.Initiator1, host.Url());
        Assert.NotEqual(0, exit);
    }
}
