using System.Buffers.Binary;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

public class SessionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Login_read_write_round_trip_with_r2t()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        var (cls, _, keys) = await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn,
            "InitialR2T=Yes", "ImmediateData=No", "MaxBurstLength=1024", "MaxRecvDataSegmentLength=1024");
        Assert.Equal(0, cls);
        Assert.Equal("1", keys["TargetPortalGroupTag"]);

        // WRITE(10) 4 blocks: expect R2Ts of at most MaxBurstLength (1024), send data for each.
        var payload = Enumerable.Range(0, 2048).Select(x => (byte)(x * 7)).ToArray();
        uint itt = await i.CommandAsync(RawInitiator.Write10(10, 4), 2048, read: false, write: true);
        int got = 0;
        while (got < 2048)
        {
            var r = await i.ReadAsync() ?? throw new IOException("closed");
            Assert.Equal(IscsiOpcode.ReadyToTransfer, (IscsiOpcode)(r.Bhs[0] & 0x3F));
            uint ttt = BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(20));
            int off = (int)BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(40));
            int len = (int)BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(44));
            Assert.True(len <= 1024);
            await i.SendAsync(IscsiOpcode.DataOut, 0x80, payload.AsSpan(off, len), h =>
            {
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), ttt);
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(40), (uint)off);
            });
            got += len;
        }
        var w = await i.ResponseAsync(itt);
        Assert.Equal(0, w.Status);

        // READ(10) back: split into 1024-byte Data-In PDUs, status collapsed into the last.
        itt = await i.CommandAsync(RawInitiator.Read10(10, 4), 2048, read: true, write: false);
        var rd = await i.ResponseAsync(itt);
        Assert.Equal(0, rd.Status);
        Assert.Equal(payload, rd.Data);
    }

    [Fact]
    public async Task Digests_protect_every_pdu_after_login_and_a_bad_header_digest_drops_the_connection()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        var (cls, _, keys) = await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn, "HeaderDigest=CRC32C,None", "DataDigest=CRC32C");
        Assert.Equal(0, cls);
        Assert.Equal("CRC32C", keys["HeaderDigest"]);
        Assert.Equal("CRC32C", keys["DataDigest"]);
        i.Digests = true;
        var payload = Enumerable.Range(0, 1536).Select(x => (byte)(x * 13)).ToArray();
        uint itt = await i.CommandAsync(RawInitiator.Write10(20, 3), 1536, false, true, payload);
        Assert.Equal(0, (await i.ResponseAsync(itt)).Status);
        itt = await i.CommandAsync(RawInitiator.Read10(20, 3), 1536, true, false);
        Assert.Equal(payload, (await i.ResponseAsync(itt)).Data);

        i.Digests = false; // header digest now missing/wrong
        await i.CommandAsync(RawInitiator.Read10(0, 1), 512, true, false);
        await i.SendRawAsync(new byte[4]);
        Assert.True(await i.ClosedAsync());
    }

    [Fact]
    public async Task Immediate_and_unsolicited_data_complete_a_write_without_r2t()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn, "InitialR2T=No", "ImmediateData=Yes", "FirstBurstLength=65536");
        var payload = Enumerable.Range(0, 1024).Select(x => (byte)(x + 3)).ToArray();
        uint itt = await i.CommandAsync(RawInitiator.Write10(0, 2), 1024, false, true, payload.AsMemory(0, 512), final: false);
        await i.SendAsync(IscsiOpcode.DataOut, 0x80, payload.AsSpan(512), h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(40), 512);
        });
        Assert.Equal(0, (await i.ResponseAsync(itt)).Status);
        itt = await i.CommandAsync(RawInitiator.Read10(0, 2), 1024, true, false);
        Assert.Equal(payload, (await i.ResponseAsync(itt)).Data);
    }

    [Fact]
    public async Task Residuals_are_reported_for_short_and_long_edtl()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn);
        // READ 1 block with EDTL 1024: underflow 512.
        uint itt = await i.CommandAsync(RawInitiator.Read10(0, 1), 1024, true, false);
        var r = await i.ResponseAsync(itt);
        Assert.Equal((0, (byte)0x02, 512u), (r.Status, r.Flags, r.Residual));
        Assert.Equal(512, r.Data.Length);
        // READ 2 blocks with EDTL 512: overflow 512, only 512 bytes sent.
        itt = await i.CommandAsync(RawInitiator.Read10(0, 2), 512, true, false);
        r = await i.ResponseAsync(itt);
        Assert.Equal((0, (byte)0x04, 512u), (r.Status, r.Flags, r.Residual));
        Assert.Equal(512, r.Data.Length);
    }

    [Fact]
    public async Task Nop_ping_is_echoed_and_cmdsn_outside_the_window_is_ignored()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn);
        await i.SendAsync(IscsiOpcode.NopOut, 0x80, "ping"u8, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 99);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
        }, immediate: true);
        var nop = await i.ReadAsync() ?? throw new IOException();
        Assert.Equal(IscsiOpcode.NopIn, (IscsiOpcode)(nop.Bhs[0] & 0x3F));
        Assert.Equal("ping"u8.ToArray(), nop.Data);
        uint maxCmdSn = BinaryPrimitives.ReadUInt32BigEndian(nop.Bhs.AsSpan(32));

        // CmdSN = MaxCmdSN + 1 and ExpCmdSN - 1: silently ignored (RFC 7143 §4.2.2.1).
        var saved = i.CmdSn;
        i.CmdSn = maxCmdSn + 1;
        await i.CommandAsync(new byte[16], 0, false, false);
        i.CmdSn = saved - 1;
        await i.CommandAsync(new byte[16], 0, false, false);
        Assert.Null(await i.ReadAsync(500));
        i.CmdSn = saved;
        uint itt = await i.CommandAsync(new byte[16], 0, false, false);
        Assert.Equal(0, (await i.ResponseAsync(itt)).Status);
    }

    [Fact]
    public async Task Abort_of_a_pending_write_completes_and_of_a_finished_task_says_it_does_not_exist()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn, "ImmediateData=No");
        uint itt = await i.CommandAsync(RawInitiator.Write10(0, 1), 512, false, true);
        var r2t = await i.ReadAsync() ?? throw new IOException();
        Assert.Equal(IscsiOpcode.ReadyToTransfer, (IscsiOpcode)(r2t.Bhs[0] & 0x3F));
        async Task<byte> Abort(uint refItt)
        {
            await i.SendAsync(IscsiOpcode.TaskManagementRequest, 0x81, default, h =>
            {
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 500 + refItt);
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), refItt);
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
            }, immediate: true);
            var resp = await i.ReadAsync() ?? throw new IOException();
            Assert.Equal(IscsiOpcode.TaskManagementResponse, (IscsiOpcode)(resp.Bhs[0] & 0x3F));
            return resp.Bhs[2];
        }
        Assert.Equal(0, await Abort(itt));
        Assert.Equal(1, await Abort(itt));
    }

    [Fact]
    public async Task Lun_reset_reaches_the_unit_and_unknown_lun_gets_check_condition()
    {
        await using var host = await TargetHost.StartAsync();
        var unit = (TestLogicalUnit)host.Registry.Find(TargetHost.TargetIqn)!.Luns[0];
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn);
        await i.SendAsync(IscsiOpcode.TaskManagementRequest, 0x85, default, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 77);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
        }, immediate: true);
        var resp = await i.ReadAsync() ?? throw new IOException();
        Assert.Equal(0, resp.Bhs[2]);
        Assert.Equal(1, unit.Resets);

        uint itt = i.Itt++;
        await i.SendAsync(IscsiOpcode.ScsiCommand, 0xC1, default, h =>
        {
            h[9] = 5; // LUN 5
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 36);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn++);
            h[32] = 0x25; // READ CAPACITY(10)
        });
        var r = await i.ResponseAsync(itt);
        Assert.Equal(2, r.Status);
    }

    [Fact]
    public async Task Logout_closes_the_connection_and_reports_nexus_loss()
    {
        await using var host = await TargetHost.StartAsync();
        var unit = (TestLogicalUnit)host.Registry.Find(TargetHost.TargetIqn)!.Luns[0];
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn);
        Assert.Single(host.Registry.SessionsOf(TargetHost.TargetIqn));
        await i.SendAsync(IscsiOpcode.LogoutRequest, 0x80, default, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 9);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
        }, immediate: true);
        var resp = await i.ReadAsync() ?? throw new IOException();
        Assert.Equal(IscsiOpcode.LogoutResponse, (IscsiOpcode)(resp.Bhs[0] & 0x3F));
        Assert.Equal(0, resp.Bhs[2]);
        Assert.True(await i.ClosedAsync());
        await WaitFor(() => host.Registry.SessionsOf(TargetHost.TargetIqn).Count == 0 && unit.NexusLosses == 1);
    }

    [Fact]
    public async Task Removing_a_target_asks_its_sessions_to_log_out_then_closes_them()
    {
        await using var host = await TargetHost.StartAsync(o => o.LogoutGraceSeconds = 1, shutdownTimeout: Timeout.InfiniteTimeSpan);
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn);
        Assert.True(host.Registry.Remove(TargetHost.TargetIqn));
        var msg = await i.ReadAsync() ?? throw new IOException();
        Assert.Equal(IscsiOpcode.AsyncMessage, (IscsiOpcode)(msg.Bhs[0] & 0x3F));
        Assert.Equal(1, msg.Bhs[36]);
        Assert.True(await i.ClosedAsync(4000));
        await WaitFor(() => host.Registry.Sessions.Count == 0);
    }

    [Fact]
    public async Task Denied_initiator_is_refused_with_authorization_failure_and_unknown_target_with_not_found()
    {
        await using var host = await TargetHost.StartAsync();
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
        {
            var (cls, detail, _) = await i.LoginAsync("iqn.2026-11.io.cairn:stranger", TargetHost.TargetIqn);
            Assert.Equal((2, 2), (cls, detail));
            Assert.True(await i.ClosedAsync());
        }
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
        {
            var (cls, detail, _) = await i.LoginAsync(TargetHost.Initiator1, "iqn.2026-11.io.cairn:nope");
            Assert.Equal((2, 3), (cls, detail));
        }
        // Names compare case-insensitively.
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
        {
            var (cls, _, _) = await i.LoginAsync(TargetHost.Initiator1.ToUpperInvariant(), TargetHost.TargetIqn.ToUpperInvariant());
            Assert.Equal(0, cls);
        }
    }

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "Each initiator is disposed by its await using; the flow analysis does not see it here.")]
    public async Task Chap_login_over_the_wire_accepts_the_secret_and_refuses_a_wrong_one()
    {
        await using var host = await TargetHost.StartAsync();
        var t = host.Registry.Find(TargetHost.TargetIqn)!;
        host.Registry.AddOrUpdate(t with { Chap = new ChapSecret("user1", "secretsecret1") });
        foreach (var (secret, ok) in new[] { ("secretsecret1", true), ("nope", false) })
        {
            await using var i = await RawInitiator.ConnectAsync(host.Port);
            var (cls, _, keys) = await i.LoginStepAsync(0, 1, [$"InitiatorName={TargetHost.Initiator1}", $"TargetName={TargetHost.TargetIqn}", "AuthMethod=CHAP,None"], transit: false);
            Assert.Equal(0, cls);
            Assert.Equal("CHAP", keys["AuthMethod"]);
            (cls, _, keys) = await i.LoginStepAsync(0, 1, ["CHAP_A=5"], transit: false);
            Assert.True(ChapAuthenticator.TryDecode(keys["CHAP_C"], 1024, out var c));
            var id = byte.Parse(keys["CHAP_I"], System.Globalization.CultureInfo.InvariantCulture);
            var r = ChapAuthenticator.ToHex(System.Security.Cryptography.MD5.HashData([id, .. System.Text.Encoding.UTF8.GetBytes(secret), .. c]));
            (cls, var detail, _) = await i.LoginStepAsync(0, 1, ["CHAP_N=user1", $"CHAP_R={r}"]);
            Assert.Equal(ok ? (0, 0) : (2, 1), (cls, detail));
        }
    }

    internal static async Task WaitFor(Func<bool> condition, int timeoutMs = 5000)
    {
        var until = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            Assert.True(Environment.TickCount64 < until, "condition not reached in time");
            await Task.Delay(20, Ct);
        }
    }
}

public class KeepaliveTests
{
    [Fact]
    public async Task Idle_session_is_pinged_and_dropped_when_the_ping_goes_unanswered()
    {
        await using var host = await TargetHost.StartAsync(o => o.NopInIntervalSeconds = 1);
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        var ping = await i.ReadAsync(3000) ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.NopIn, (IscsiOpcode)(ping.Bhs[0] & 0x3F));
        Assert.Equal(0xFFFFFFFFu, BinaryPrimitives.ReadUInt32BigEndian(ping.Bhs.AsSpan(16)));
        uint ttt = BinaryPrimitives.ReadUInt32BigEndian(ping.Bhs.AsSpan(20));
        Assert.NotEqual(0xFFFFFFFFu, ttt);
        // Answer this one: the session stays.
        await i.SendAsync(IscsiOpcode.NopOut, 0x80, default, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), ttt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
        }, immediate: true);
        var second = await i.ReadAsync(4000) ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.NopIn, (IscsiOpcode)(second.Bhs[0] & 0x3F));
        // Ignore the second: the target hangs up.
        Assert.True(await i.ClosedAsync(4000));
    }
}

public class ShutdownTests
{
    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "Disposing the host mid-test is what the test checks.")]
    public async Task Stopping_the_host_asks_sessions_to_log_out_and_does_not_wait_for_the_shutdown_timeout()
    {
        var host = await TargetHost.StartAsync(o => o.LogoutGraceSeconds = 1, shutdownTimeout: Timeout.InfiniteTimeSpan);
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        await using var d = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await d.LoginAsync(TargetHost.Initiator1, null)).Class);
        // No shutdown timeout at all: the stop can only finish if the target itself ends the session that ignores its
        // logout request once the grace has passed (the deadline below only keeps a regression from hanging the suite).
        var stop = host.StopWithoutTimeoutAsync();
        var msg = await i.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.AsyncMessage, (IscsiOpcode)(msg.Bhs[0] & 0x3F));
        await stop.WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        Assert.True(await i.ClosedAsync(1000));
        Assert.True(await d.ClosedAsync(1000));
    }
}
