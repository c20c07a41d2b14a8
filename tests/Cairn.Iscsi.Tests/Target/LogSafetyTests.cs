using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

public sealed class LogSafetyTests
{
    private const string Open = "iqn.2026-11.io.cairn:open";

    /// <summary>
    /// A peer string that clears the screen, sets the terminal title, rings the bell and forges a log line (no NUL: on the
    /// wire that would end the key=value pair).
    /// </summary>
    private static readonly string s_hostile =
        "iqn.2026-11.evil:\u001b[2J\u001b]0;pwned\u0007\r\n2026-12-06 info: Cairn[1] admin logged in\u007f\u0085" + new string('A', 4000);

    [Fact]
    public void ForLog_keeps_plain_text_and_escapes_and_bounds_everything_else()
    {
        const string plain = "iqn.2026-11.io.cairn:init1";
        Assert.Same(plain, PeerText.ForLog(plain));
        Assert.Equal("", PeerText.ForLog(null));
        Assert.Equal(@"a\x1B[31mb\x0D\x0A\x00\x7F", PeerText.ForLog("a\u001b[31mb\r\n\0\u007f"));
        Assert.Equal(@"caf\xC3\xA9 \xF0\x9F\x92\xA5 \x5C", PeerText.ForLog("café 💥 \\"));
        Assert.Equal(@"\xEF\xBF\xBD", PeerText.ForLog("\ud800")); // a lone surrogate, as UTF-8 would carry it

        var cut = PeerText.ForLog(new string('A', 4000));
        Assert.Equal(new string('A', PeerText.MaxNameBytes) + "…(4000 bytes)", cut);

        // An escape is never split at the bound: 221 plain characters leave no room for a 4-character escape.
        var edge = PeerText.ForLog(new string('B', 221) + "\u0001tail");
        Assert.Equal(new string('B', 221) + "…(226 bytes)", edge);

        var s = PeerText.ForLog(s_hostile);
        Assert.DoesNotContain(s, char.IsControl);
        Assert.True(s.Length <= PeerText.MaxNameBytes + 24, s);
        Assert.StartsWith(@"iqn.2026-11.evil:\x1B[2J\x1B]0;pwned\x07\x0D\x0A2026", s);
    }

    [Fact]
    public void Acceptable_names_are_iscsi_sized_and_free_of_control_characters()
    {
        Assert.True(PeerText.IsAcceptableName("iqn.2026-11.io.cairn:café"));
        Assert.True(PeerText.IsAcceptableName(new string('a', 223)));
        Assert.False(PeerText.IsAcceptableName(new string('a', 224)));
        Assert.False(PeerText.IsAcceptableName(new string('é', 112))); // 224 bytes of UTF-8
        Assert.False(PeerText.IsAcceptableName("iqn.x:\u001b[2J"));
        Assert.False(PeerText.IsAcceptableName(""));
    }

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "Each initiator is disposed by its await using.")]
    public async Task Names_and_keys_a_peer_sends_reach_the_log_bounded_and_escaped()
    {
        var logs = new CapturingLogs();
        await using var host = await TargetHost.StartAsync(logs: logs);
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = Open,
            Luns = new Dictionary<int, Cairn.Iscsi.Scsi.IScsiLogicalUnit> { [0] = new TestLogicalUnit() },
            Initiators = ["*"],
            Chap = new ChapSecret("user1", "secretsecret1"),
        });
        var t = host.Registry.Find(TargetHost.TargetIqn)!;
        host.Registry.AddOrUpdate(t with { Initiators = ["*"] });

        // A hostile InitiatorName: not an iSCSI name, refused as an initiator error.
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
            Assert.Equal((2, 0), Pair(await i.LoginAsync(s_hostile, TargetHost.TargetIqn)));

        // A hostile TargetName: no such target.
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
            Assert.Equal((2, 3), Pair(await i.LoginAsync(TargetHost.Initiator1, s_hostile)));

        // A hostile SessionType value and an unknown key with a hostile name and value.
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
            Assert.Equal((2, 9), Pair(await i.LoginStepAsync(0, 3,
                [$"InitiatorName={TargetHost.Initiator1}", $"TargetName={TargetHost.TargetIqn}", "X-evil_key=" + s_hostile[..2000], "SessionType=" + s_hostile[..2000]])));

        // A hostile CHAP_N: unknown user.
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
        {
            var (cls, _, keys) = await i.LoginStepAsync(0, 1, [$"InitiatorName={TargetHost.Initiator1}", $"TargetName={Open}", "AuthMethod=CHAP"], transit: false);
            Assert.Equal(0, cls);
            (cls, _, keys) = await i.LoginStepAsync(0, 1, ["CHAP_A=5"], transit: false);
            Assert.Equal(0, cls);
            Assert.Equal((2, 1), Pair(await i.LoginStepAsync(0, 1, ["CHAP_N=" + s_hostile[..200], "CHAP_R=0x" + new string('0', 32)])));
        }

        // A legal name outside ASCII logs in; the log shows its UTF-8 bytes escaped.
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
            Assert.Equal((0, 0), Pair(await i.LoginAsync("iqn.2026-11.io.cairn:caf\u00e9", TargetHost.TargetIqn)));

        var records = logs.Snapshot().Where(r => r.EventId is >= 3001 and <= 3099).ToList();
        Assert.Contains(records, r => r.EventId == 3002 && r.Message.Contains(@"iqn.2026-11.evil:\x1B[2j\x1B]0;pwned\x07\x0D\x0A", StringComparison.Ordinal) /* names are lower-cased at login */);
        Assert.Contains(records, r => r.EventId == 3002 && r.Message.Contains("(4", StringComparison.Ordinal) && r.Message.Contains(" bytes)", StringComparison.Ordinal));
        Assert.Contains(records, r => r.EventId == 3001 && r.Message.Contains(@"iqn.2026-11.io.cairn:caf\xC3\xA9", StringComparison.Ordinal));
        Assert.True(records.Count(r => r.EventId == 3002) >= 4);
        foreach (var r in logs.Snapshot())
            foreach (var text in r.Values.Prepend(r.Message))
            {
                Assert.DoesNotContain(text, char.IsControl);
                Assert.DoesNotContain(text, c => c > '~' && c != '…');
                Assert.DoesNotContain(new string('A', PeerText.MaxNameBytes + 1), text, StringComparison.Ordinal);
                Assert.True(text.Length <= 1024, $"{r.EventId}: {text.Length} characters");
            }
    }

    private static (int, int) Pair((byte Class, byte Detail, Dictionary<string, string> Keys) r) => (r.Class, r.Detail);
}
