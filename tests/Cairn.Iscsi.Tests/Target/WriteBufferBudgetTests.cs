using System.Buffers.Binary;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>
/// Backpressure on write buffers: a write that does not fit the target-wide budget or its connection's limit waits
/// for its R2T (its data is not asked for) and succeeds once earlier writes finish; nothing fails, nothing is dropped.
/// </summary>
public sealed class WriteBufferBudgetTests
{
    private const int WriteBytes = 32 * 1024;
    private static readonly string[] Keys = ["InitialR2T=Yes", "ImmediateData=No", "MaxBurstLength=32768", "MaxRecvDataSegmentLength=32768"];

    [Fact]
    public async Task A_write_over_the_shared_budget_waits_for_another_connections_write_then_succeeds()
    {
        await using var host = await TargetHost.StartAsync(o => { o.MaxCommandBuffer = WriteBytes; o.MaxBufferedWriteBytes = WriteBytes; });
        var budget = host.Service<WriteBufferBudget>();
        await using var a = await LoginAsync(host, TargetHost.Initiator1);
        await using var b = await LoginAsync(host, TargetHost.Initiator2);
        var payloadA = Pattern(1);
        var payloadB = Pattern(2);

        uint ittA = await a.CommandAsync(RawInitiator.Write10(0, WriteBytes / 512), WriteBytes, read: false, write: true);
        var r2tA = await ExpectR2TAsync(a, ittA);
        Assert.Equal(WriteBytes, budget.InUse);

        uint ittB = await b.CommandAsync(RawInitiator.Write10(100, WriteBytes / 512), WriteBytes, read: false, write: true);
        await WaitUntilAsync(() => budget.Waiting == 1, "the second connection's write did not wait for the budget");

        await SendBurstAsync(a, ittA, r2tA, payloadA);
        Assert.Equal(0, (await a.ResponseAsync(ittA)).Status);

        var r2tB = await ExpectR2TAsync(b, ittB);
        await SendBurstAsync(b, ittB, r2tB, payloadB);
        Assert.Equal(0, (await b.ResponseAsync(ittB)).Status);

        var unit = (TestLogicalUnit)host.Registry.Targets.Single().Luns[0];
        Assert.Equal(payloadA, unit.Data.AsSpan(0, WriteBytes).ToArray());
        Assert.Equal(payloadB, unit.Data.AsSpan(100 * 512, WriteBytes).ToArray());
        Assert.Equal(0, budget.InUse);
        Assert.Equal(0, budget.Waiting);
        Assert.Equal(WriteBytes, budget.Peak);
    }

    [Fact]
    public async Task Writes_over_the_connection_limit_wait_for_their_R2T_instead_of_dropping_the_connection()
    {
        await using var host = await TargetHost.StartAsync(o => { o.MaxCommandBuffer = WriteBytes; o.MaxPendingWriteBytes = WriteBytes; });
        await using var i = await LoginAsync(host, TargetHost.Initiator1);
        uint itt1 = await i.CommandAsync(RawInitiator.Write10(0, WriteBytes / 512), WriteBytes, read: false, write: true);
        uint itt2 = await i.CommandAsync(RawInitiator.Write10(200, WriteBytes / 512), WriteBytes, read: false, write: true);

        // The second write was read before any data went out; it gets its R2T only after the first write's status.
        var r2t1 = await ExpectR2TAsync(i, itt1);
        await SendBurstAsync(i, itt1, r2t1, Pattern(3));
        Assert.Equal(0, (await i.ResponseAsync(itt1)).Status);
        var r2t2 = await ExpectR2TAsync(i, itt2);
        await SendBurstAsync(i, itt2, r2t2, Pattern(4));
        Assert.Equal(0, (await i.ResponseAsync(itt2)).Status);
        Assert.Equal(0, host.Service<WriteBufferBudget>().InUse);
    }

    [Fact]
    public async Task A_closed_connection_gives_back_what_its_writes_held_and_leaves_the_queue()
    {
        await using var host = await TargetHost.StartAsync(o => { o.MaxCommandBuffer = WriteBytes; o.MaxBufferedWriteBytes = WriteBytes; });
        var budget = host.Service<WriteBufferBudget>();
        await using var a = await LoginAsync(host, TargetHost.Initiator1);
        await using var b = await LoginAsync(host, TargetHost.Initiator2);
        uint ittA = await a.CommandAsync(RawInitiator.Write10(0, WriteBytes / 512), WriteBytes, read: false, write: true);
        await ExpectR2TAsync(a, ittA);
        uint ittB = await b.CommandAsync(RawInitiator.Write10(100, WriteBytes / 512), WriteBytes, read: false, write: true);
        await WaitUntilAsync(() => budget.Waiting == 1, "the second connection's write did not wait for the budget");

        await a.DisposeAsync(); // the first initiator goes away mid-write (disposing twice is harmless)
        var r2tB = await ExpectR2TAsync(b, ittB);
        await SendBurstAsync(b, ittB, r2tB, Pattern(5));
        Assert.Equal(0, (await b.ResponseAsync(ittB)).Status);
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public async Task An_aborted_waiting_write_leaves_the_queue_and_holds_nothing()
    {
        await using var host = await TargetHost.StartAsync(o => { o.MaxCommandBuffer = WriteBytes; o.MaxBufferedWriteBytes = WriteBytes; });
        var budget = host.Service<WriteBufferBudget>();
        await using var a = await LoginAsync(host, TargetHost.Initiator1);
        await using var b = await LoginAsync(host, TargetHost.Initiator2);
        uint ittA = await a.CommandAsync(RawInitiator.Write10(0, WriteBytes / 512), WriteBytes, read: false, write: true);
        var r2tA = await ExpectR2TAsync(a, ittA);
        uint ittB = await b.CommandAsync(RawInitiator.Write10(100, WriteBytes / 512), WriteBytes, read: false, write: true);
        await WaitUntilAsync(() => budget.Waiting == 1, "the second connection's write did not wait for the budget");

        // RFC 7143 §11.5 TASK MANAGEMENT FUNCTION REQUEST, function 1: ABORT TASK (the waiting write).
        uint tmf = b.Itt++;
        await b.SendAsync(IscsiOpcode.TaskManagementRequest, 0x81, default, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), tmf);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), ittB);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), b.CmdSn);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(28), b.ExpStatSn);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(32), b.CmdSn - 1);
        }, immediate: true);
        var r = await b.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.TaskManagementResponse, (IscsiOpcode)(r.Bhs[0] & 0x3F));
        Assert.Equal(0, r.Bhs[2]); // function complete
        await WaitUntilAsync(() => budget.Waiting == 0, "the aborted write's connection stayed in the queue");

        await SendBurstAsync(a, ittA, r2tA, Pattern(6));
        Assert.Equal(0, (await a.ResponseAsync(ittA)).Status);
        Assert.Equal(0, budget.InUse);
    }

    private static async Task<RawInitiator> LoginAsync(TargetHost host, string initiator)
    {
        var i = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await i.LoginAsync(initiator, TargetHost.TargetIqn, Keys)).Class);
        return i;
    }

    private static async Task<(uint Ttt, int Offset, int Length)> ExpectR2TAsync(RawInitiator i, uint itt)
    {
        var r = await i.ReadAsync(timeoutMs: 30_000) ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.ReadyToTransfer, (IscsiOpcode)(r.Bhs[0] & 0x3F));
        Assert.Equal(itt, BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(16)));
        return (BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(20)), (int)BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(40)),
            (int)BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(44)));
    }

    private static Task SendBurstAsync(RawInitiator i, uint itt, (uint Ttt, int Offset, int Length) r2t, byte[] payload)
    {
        Assert.Equal((0, WriteBytes), (r2t.Offset, r2t.Length));
        return i.SendAsync(IscsiOpcode.DataOut, 0x80, payload.AsSpan(r2t.Offset, r2t.Length), h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), r2t.Ttt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(40), (uint)r2t.Offset);
        });
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string why)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, why);
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
    }

    private static byte[] Pattern(int seed)
    {
        var b = new byte[WriteBytes];
        new Random(seed).NextBytes(b);
        return b;
    }
}
