using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>What a targetcli user does with a live target, through the real CLI: LUNs added and removed, sessions listed and ended.</summary>
public sealed class TargetAdminTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private readonly CairnProcess _server = shared.Server;
    private const string Iqn = "iqn.2026-01.org.example:admin-t";
    private const string Host = "iqn.2026-01.org.example:admin-host";

    [Fact]
    public async Task Luns_are_added_and_removed_and_sessions_listed_and_ended()
    {
        (await _server.CliAsync("volume", "create", "tank/adm/a", "--size", "4M", "--parents")).Ok();
        (await _server.CliAsync("volume", "create", "tank/adm/b", "--size", "8M")).Ok();
        (await _server.CliAsync("target", "create", Iqn, "--volume", "tank/adm/a", "--initiator", Host)).Ok();

        var added = (await _server.CliAsync("target", "lun", "add", Iqn, "tank/adm/b", "--json")).Json();
        Assert.Equal(2, added["luns"]!.AsArray().Count);
        Assert.Equal(1, added["luns"]![1]!["lun"]!.GetValue<int>());
        using (var s = LibiscsiSession.Open($"127.0.0.1:{_server.IscsiPort}", Host, Iqn, 1))
            Assert.Equal(4096, s.Read(0, 4096).Length);

        var dup = await _server.CliAsync("target", "lun", "add", Iqn, "tank/adm/b");
        Assert.NotEqual(0, dup.ExitCode); // the same volume twice, read-write
        var missing = await _server.CliAsync("target", "lun", "add", Iqn, "tank/adm/nothing");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr);

        using (LibiscsiSession.Open($"127.0.0.1:{_server.IscsiPort}", Host, Iqn, 0))
        {
            await WaitAsync(async () => (await _server.CliAsync("target", "sessions", Iqn, "--json")).Json().AsArray().Count == 1, "the session listed");
            var list = (await _server.CliAsync("target", "sessions", Iqn)).Ok().Stdout;
            Assert.Contains(Host, list);
            Assert.Contains("127.0.0.1", list);
            var ended = (await _server.CliAsync("target", "logout", Iqn, "--json")).Json();
            Assert.Equal(1, ended["ended"]!.GetValue<int>());
            await WaitAsync(async () => (await _server.CliAsync("target", "sessions", Iqn, "--json")).Json().AsArray().Count == 0, "the session ended");
        }

        var removed = (await _server.CliAsync("target", "lun", "remove", Iqn, "1", "--json")).Json();
        Assert.Single(removed["luns"]!.AsArray());
        Assert.Null(await IscsiTools.CapacityAsync(Host, IscsiTools.Address($"127.0.0.1:{_server.IscsiPort}", Iqn, 1, null, null)));
        Assert.Equal(4L << 20, (await IscsiTools.CapacityAsync(Host, IscsiTools.Address($"127.0.0.1:{_server.IscsiPort}", Iqn, 0, null, null)))?.Bytes);
        var last = await _server.CliAsync("target", "lun", "remove", Iqn, "0");
        Assert.NotEqual(0, last.ExitCode);
        Assert.Contains("only LUN", last.Stderr);
        // Unmapped, the volume may be exported again.
        (await _server.CliAsync("target", "create", Iqn + "-2", "--volume", "tank/adm/b", "--initiator", Host)).Ok();
    }

    [Fact]
    public async Task A_volume_mapped_read_only_by_the_cli_refuses_writes_beside_its_read_write_export()
    {
        const string rw = Iqn + "-rw", ro = Iqn + "-ro";
        (await _server.CliAsync("volume", "create", "tank/adm/ro", "--size", "4M", "--parents")).Ok();
        (await _server.CliAsync("target", "create", rw, "--volume", "tank/adm/ro", "--initiator", Host)).Ok();
        var data = new byte[4096];
        Random.Shared.NextBytes(data);
        using (var s = LibiscsiSession.Open($"127.0.0.1:{_server.IscsiPort}", Host, rw, 0))
            s.Write(0, data);

        // A second read-write export is refused; a read-only one is not a writer, so it is allowed.
        Assert.NotEqual(0, (await _server.CliAsync("target", "create", ro, "--volume", "tank/adm/ro", "--initiator", Host)).ExitCode);
        var t = (await _server.CliAsync("target", "create", ro, "--volume", "tank/adm/ro", "--initiator", Host, "--read-only", "--json")).Json();
        Assert.True(t["luns"]![0]!["read_only"]!.GetValue<bool>());
        Assert.Contains("(read-only)", (await _server.CliAsync("target", "show", ro)).Ok().Stdout);
        using (var s = LibiscsiSession.Open($"127.0.0.1:{_server.IscsiPort}", Host, ro, 0))
        {
            Assert.Equal(data, s.Read(0, 4096));
            Assert.Contains("DATA PROTECTION", s.TryWrite(0, new byte[4096]) ?? "", StringComparison.Ordinal);
            Assert.Equal(data, s.Read(0, 4096));
        }
        var added = (await _server.CliAsync("target", "lun", "add", rw, "tank/adm/ro", "--read-only", "--json")).Json();
        Assert.True(added["luns"]![1]!["read_only"]!.GetValue<bool>());
        Assert.False(added["luns"]![0]!["read_only"]!.GetValue<bool>());
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, what + " not seen within a minute");
            await Task.Delay(50);
        }
    }
}
