using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>Targets through the real server, seen by a real initiator (libiscsi).</summary>
public sealed class TargetTests
{
    private const string InitA = "iqn.2026-01.org.example:node-a";
    private const string InitB = "iqn.2026-01.org.example:node-b";

    [Fact]
    public async Task Targets_persist_across_restart_and_discovery_shows_each_initiator_only_its_targets()
    {
        var data = TempDir.Create("cairn-tgt");
        await using (var s = await CairnProcess.StartAsync(data))
        {
            (await s.CliAsync("volume", "create", "t/a", "--size", "64M", "--parents")).Ok();
            (await s.CliAsync("volume", "create", "t/b", "--size", "64M")).Ok();
            (await s.CliAsync("target", "create", "iqn.2026-01.org.example:TA", "--volume", "t/a", "--initiator", InitA)).Ok();
            (await s.CliAsync("target", "create", "iqn.2026-01.org.example:tb", "--volume", "t/b", "--initiator", InitB)).Ok();
            Assert.Equal(["iqn.2026-01.org.example:ta"], await IscsiTools.DiscoverAsync(s.IscsiPort, InitA));
            await s.StopAsync();
        }
        await using var again = await CairnProcess.StartAsync(data);
        Assert.Equal(["iqn.2026-01.org.example:ta"], await IscsiTools.DiscoverAsync(again.IscsiPort, InitA));
        Assert.Equal(["iqn.2026-01.org.example:tb"], await IscsiTools.DiscoverAsync(again.IscsiPort, InitB));
        Assert.Empty(await IscsiTools.DiscoverAsync(again.IscsiPort, "iqn.2026-01.org.example:stranger"));

        var inq = await IscsiTools.RunAsync("iscsi-inq", "-i", InitA, $"iscsi://127.0.0.1:{again.IscsiPort}/iqn.2026-01.org.example:ta/0");
        Assert.Equal(0, inq.ExitCode);
        Assert.Contains("CAIRN", inq.StdOut);
        var refused = await IscsiTools.RunAsync("iscsi-inq", "-i", InitB, $"iscsi://127.0.0.1:{again.IscsiPort}/iqn.2026-01.org.example:ta/0");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("Authorization failure", refused.Output());

        // allow / deny take effect at once.
        (await again.CliAsync("target", "allow", "iqn.2026-01.org.example:ta", InitB)).Ok();
        Assert.Contains("iqn.2026-01.org.example:ta", await IscsiTools.DiscoverAsync(again.IscsiPort, InitB));
        (await again.CliAsync("target", "deny", "iqn.2026-01.org.example:ta", InitB)).Ok();
        Assert.DoesNotContain("iqn.2026-01.org.example:ta", await IscsiTools.DiscoverAsync(again.IscsiPort, InitB));
    }

    [Fact]
    public async Task Chap_login_works_and_a_wrong_secret_is_refused_and_secrets_are_never_shown()
    {
        await using var s = await CairnProcess.StartAsync();
        (await s.CliAsync("volume", "create", "c/v", "--size", "32M", "--parents")).Ok();
        const string secret = "s3cret-chap-pass";
        (await s.CliAsync("target", "create", "iqn.2026-01.org.example:chap", "--volume", "c/v", "--initiator", InitA, "--chap-user", "alice", "--chap-secret", secret)).Ok();
        var ok = await IscsiTools.RunAsync("iscsi-inq", "-i", InitA, $"iscsi://alice%{secret}@127.0.0.1:{s.IscsiPort}/iqn.2026-01.org.example:chap/0");
        Assert.True(ok.ExitCode == 0, ok.Output());
        var bad = await IscsiTools.RunAsync("iscsi-inq", "-i", InitA, $"iscsi://alice%wrong-secret-123@127.0.0.1:{s.IscsiPort}/iqn.2026-01.org.example:chap/0");
        Assert.NotEqual(0, bad.ExitCode);
        var none = await IscsiTools.RunAsync("iscsi-inq", "-i", InitA, $"iscsi://127.0.0.1:{s.IscsiPort}/iqn.2026-01.org.example:chap/0");
        Assert.NotEqual(0, none.ExitCode);

        var show = await s.CliAsync("target", "show", "iqn.2026-01.org.example:chap", "--json");
        Assert.DoesNotContain(secret, show.Ok().Stdout);
        Assert.Contains("alice", show.Stdout);
        Assert.DoesNotContain(secret, (await s.CliAsync("target", "list")).Stdout);
        await s.StopAsync();
        Assert.DoesNotContain(secret, s.Log);
        foreach (var f in Directory.EnumerateFiles(s.DataDir, "*", SearchOption.AllDirectories))
            Assert.False((await File.ReadAllBytesAsync(f)).AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(secret)) >= 0, $"secret found in {f}");
    }

    [Fact]
    public async Task Destroying_an_exported_volume_is_refused_naming_the_target_and_bad_targets_are_rejected()
    {
        await using var s = await CairnProcess.StartAsync();
        (await s.CliAsync("volume", "create", "d/v", "--size", "32M", "--parents")).Ok();
        (await s.CliAsync("target", "create", "iqn.2026-01.org.example:d", "--volume", "d/v", "--initiator", InitA)).Ok();
        var r = await s.CliAsync("volume", "destroy", "d/v");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("iqn.2026-01.org.example:d", r.Stderr);

        foreach (var args in new[]
        {
            new[] { "target", "create", "not-an-iqn", "--volume", "d/v" },
            ["target", "create", "iqn.2026-01.org.example:x", "--volume", "d/missing"],
            ["target", "create", "iqn.2026-01.org.example:x", "--volume", "d/v", "--initiator", "bogus initiator"],
            ["target", "create", "iqn.2026-01.org.example:x", "--volume", "d/v", "--chap-user", "u", "--chap-secret", "short"],
            ["target", "create", "iqn.2026-01.org.example:d", "--volume", "d/v"],
        })
        {
            var bad = await s.CliAsync(args);
            Assert.NotEqual(0, bad.ExitCode);
            Assert.StartsWith("error: ", bad.Stderr);
        }
        Assert.Single((await s.CliAsync("target", "list", "--json")).Json().AsArray());

        (await s.CliAsync("target", "delete", "iqn.2026-01.org.example:d")).Ok();
        (await s.CliAsync("volume", "destroy", "d/v")).Ok();
        Assert.Empty(await IscsiTools.DiscoverAsync(s.IscsiPort, InitA));
    }
}
