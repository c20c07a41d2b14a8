using System.Buffers.Binary;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Tests.Target;

public class ColdResetTests
{
    [Fact]
    public async Task Target_cold_reset_closes_every_connection_to_the_target()
    {
        await using var host = await TargetHost.StartAsync();
        await using var a = await RawInitiator.ConnectAsync(host.Port);
        await using var b = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await a.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        Assert.Equal(0, (await b.LoginAsync(TargetHost.Initiator2, TargetHost.TargetIqn)).Class);

        // RFC 7143 §11.5 TASK MANAGEMENT FUNCTION REQUEST, function 7: TARGET COLD RESET.
        await a.SendAsync(IscsiOpcode.TaskManagementRequest, 0x87, default, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), a.Itt++);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), 0xFFFFFFFF);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), a.CmdSn);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(28), a.ExpStatSn);
        }, immediate: true);
        Assert.True(await a.ClosedAsync(5000), "the connection that asked is closed");
        Assert.True(await b.ClosedAsync(5000), "the other session of the target is closed too");
    }
}
