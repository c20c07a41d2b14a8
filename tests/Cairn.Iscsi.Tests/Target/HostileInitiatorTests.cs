using System.Buffers.Binary;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>Hostile peers over raw TCP: the connection is refused or closed cleanly and the server carries on.</summary>
public class HostileInitiatorTests
{
    private static async Task AssertServerStillWorks(TargetHost host)
    {
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        var (cls, _, _) = await i.LoginAsync(TargetHost.Initiator2, TargetHost.TargetIqn);
        Assert.Equal(0, cls);
        uint itt = await i.CommandAsync(RawInitiator.Read10(0, 1), 512, true, false);
        Assert.Equal(0, (await i.ResponseAsync(itt)).Status);
    }

    private static async Task<RawInitiator> LoggedInAsync(TargetHost host)
    {
        var i = await RawInitiator.ConnectAsync(host.Port);
        var (cls, _, _) = await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn);
        Assert.Equal(0, cls);
        return i;
    }

    [Fact]
    public async Task Truncated_header_then_disconnect_leaves_the_server_running()
    {
        await using var host = await TargetHost.StartAsync();
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
            await i.SendRawAsync(new byte[20]);
        await using (var i = await LoggedInAsync(host))
            await i.SendRawAsync(new byte[47]);
        await AssertServerStillWorks(host);
    }

    [Fact]
    public async Task Oversized_data_segment_closes_the_connection_without_waiting_for_the_data()
    {
        await using var host = await TargetHost.StartAsync();
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
        {
            var pdu = RawInitiator.Build(IscsiOpcode.LoginRequest, 0x87, default, immediate: true);
            pdu[5] = 0xFF; pdu[6] = 0xFF; pdu[7] = 0xFF; // 16 MiB claimed during login (limit 8192)
            await i.SendRawAsync(pdu);
            Assert.True(await i.ClosedAsync(3000));
        }
        await using (var i = await LoggedInAsync(host))
        {
            var pdu = RawInitiator.Build(IscsiOpcode.ScsiCommand, 0xA1, default);
            pdu[5] = 0xFF; pdu[6] = 0xFF; pdu[7] = 0xF0; // over our MaxRecvDataSegmentLength
            await i.SendRawAsync(pdu);
            Assert.True(await i.ClosedAsync(3000));
        }
        await AssertServerStillWorks(host);
    }

    [Fact]
    public async Task Unknown_opcode_after_login_is_rejected_and_the_session_continues()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await LoggedInAsync(host);
        await i.SendAsync((IscsiOpcode)0x1C, 0x80, default);
        var r = await i.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.Reject, (IscsiOpcode)(r.Bhs[0] & 0x3F));
        Assert.Equal(RejectReason.CommandNotSupported, r.Bhs[2]);
        Assert.Equal(0x1C, r.Data[0] & 0x3F);
        uint itt = await i.CommandAsync(new byte[16], 0, false, false);
        Assert.Equal(0, (await i.ResponseAsync(itt)).Status);
    }

    [Fact]
    public async Task One_byte_at_a_time_login_and_command_work()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        var keys = System.Text.Encoding.UTF8.GetBytes($"InitiatorName={TargetHost.Initiator1}\0TargetName={TargetHost.TargetIqn}\0AuthMethod=None\0");
        var login = RawInitiator.Build(IscsiOpcode.LoginRequest, 0x83, keys, h => { h[8] = 0x80; h[13] = 2; BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), 1); }, immediate: true);
        foreach (var b in login) await i.SendRawAsync(new[] { b });
        var resp = await i.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(0, resp.Bhs[36]);
        var cmd = RawInitiator.Build(IscsiOpcode.ScsiCommand, 0xC1, default, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 5);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 512);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), 1);
            RawInitiator.Read10(3, 1).CopyTo(h.AsSpan(32));
        });
        foreach (var b in cmd) await i.SendRawAsync(new[] { b });
        var r = await i.ResponseAsync(5);
        Assert.Equal(0, r.Status);
        Assert.Equal(512, r.Data.Length);
    }

    [Fact]
    public async Task Garbage_before_and_after_login_closes_cleanly_and_other_sessions_carry_on()
    {
        await using var host = await TargetHost.StartAsync();
        await using var bystander = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await bystander.LoginAsync(TargetHost.Initiator2, TargetHost.TargetIqn)).Class);
        var rnd = new Random(42);
        var garbage = new byte[64 * 1024];
        rnd.NextBytes(garbage);
        await using (var i = await RawInitiator.ConnectAsync(host.Port))
        {
            await i.SendRawAsync(garbage);
            Assert.True(await i.ClosedAsync(5000));
        }
        await using (var i = await LoggedInAsync(host))
        {
            try { await i.SendRawAsync(garbage); } catch (IOException) { }
            Assert.True(await i.ClosedAsync(5000));
        }
        uint itt = await bystander.CommandAsync(RawInitiator.Read10(0, 1), 512, true, false);
        Assert.Equal(0, (await bystander.ResponseAsync(itt)).Status);
        await AssertServerStillWorks(host);
    }

    [Fact]
    public async Task Silent_connection_is_dropped_after_the_login_timeout()
    {
        await using var host = await TargetHost.StartAsync(o => o.LoginTimeoutSeconds = 1);
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.SendRawAsync(new byte[10]);
        Assert.True(await i.ClosedAsync(4000));
    }

    [Fact]
    public async Task Full_feature_pdus_before_login_close_the_connection()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        await i.CommandAsync(RawInitiator.Read10(0, 1), 512, true, false);
        Assert.True(await i.ClosedAsync(3000));
        await AssertServerStillWorks(host);
    }
}

/// <summary>Memory-measuring hostile tests; they share the non-parallel fuzz collection.</summary>
[Collection(nameof(FuzzTests))]
public class HostileMemoryTests
{
    [Fact]
    public async Task A_flood_of_large_reads_that_the_peer_never_collects_keeps_memory_bounded()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        long before = GC.GetTotalMemory(true);
        var flood = new MemoryStream();
        for (uint n = 0; n < 2000; n++)
        {
            // Immediate commands bypass the CmdSN window; each asks for the whole 1 MiB LU.
            flood.Write(RawInitiator.Build(IscsiOpcode.ScsiCommand, 0xC1, default, h =>
            {
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), n + 100);
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 1024 * 1024);
                BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
                RawInitiator.Read10(0, 2048).CopyTo(h.AsSpan(32));
            }, immediate: true));
        }
        await i.SendRawAsync(flood.ToArray());
        await WaitUntilTheTargetStopsTakingCommandsAsync(host.Registry.CountersFor(TargetHost.TargetIqn), 2000);
        long growth = GC.GetTotalMemory(false) - before;
        Assert.True(growth < 256L * 1024 * 1024, $"memory grew by {growth / (1024 * 1024)} MiB");
    }

    /// <summary>
    /// The event the measurement waits for: the target has executed every command sent, or has stopped executing them
    /// (its output is full because the peer never reads). Seen from its command counter: all done, or standing still
    /// for half a second after it moved. Bounded by a minute.
    /// </summary>
    private static async Task WaitUntilTheTargetStopsTakingCommandsAsync(IscsiTargetCounters counters, long sent)
    {
        var deadline = Environment.TickCount64 + 60_000;
        long last = -1;
        int still = 0;
        while (true)
        {
            long n = counters.Commands;
            if (n >= sent) return;
            still = n == last && n > 0 ? still + 1 : 0;
            if (still >= 25) return;
            last = n;
            Assert.True(Environment.TickCount64 < deadline, $"the target took {n} of {sent} commands and still moves after a minute");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
