namespace Cairn.Iscsi.Scsi;

/// <summary>
/// The I_T nexus a command arrives on (SAM-5 §4.6): the initiator port (initiator IQN + ISID) and the target port.
/// Reservations and unit attentions are kept per nexus.
/// </summary>
/// <param name="InitiatorName">Initiator IQN as sent at login (lower-case).</param>
/// <param name="Isid">The session's ISID (6 bytes, as a number).</param>
/// <param name="TargetName">Target IQN.</param>
/// <param name="TargetPortalGroupTag">TPGT of the portal the session logged in through.</param>
public readonly record struct ScsiNexus(string InitiatorName, ulong Isid, string TargetName, ushort TargetPortalGroupTag)
{
    /// <summary>SPC-4 initiator port TransportID name: <c>iqn…,i,0x&lt;isid&gt;</c>.</summary>
    public string InitiatorPortName => $"{InitiatorName},i,0x{Isid:x12}";
}

/// <summary>SAM status codes.</summary>
public static class ScsiStatus
{
    public const byte Good = 0x00;
    public const byte CheckCondition = 0x02;
    public const byte ConditionMet = 0x04;
    public const byte Busy = 0x08;
    public const byte ReservationConflict = 0x18;
    public const byte TaskSetFull = 0x28;
    public const byte TaskAborted = 0x40;
}

/// <summary>What the transport tells the logical unit about a command, besides the CDB and data.</summary>
/// <param name="ExpectedDataTransferLength">iSCSI EDTL: bytes the initiator expects to move (in or out).</param>
/// <param name="Read">The R bit (data-in expected).</param>
/// <param name="Write">The W bit (data-out expected).</param>
/// <param name="Nexus">The I_T nexus.</param>
public readonly record struct ScsiCommandInfo(uint ExpectedDataTransferLength, bool Read, bool Write, ScsiNexus Nexus);

/// <summary>
/// The result of a command. The transport builds the SCSI Response (RFC 7143 §11.4) from it.
/// </summary>
/// <param name="Status">SAM status.</param>
/// <param name="DataInLength">Bytes written into the data-in buffer that the transport must send (at most the buffer's length).</param>
/// <param name="TransferLength">
/// Bytes the CDB called for in its data direction (e.g. blocks × block size, or the allocation length clipped to
/// what the command produces). The transport derives residuals from it: TransferLength &gt; EDTL is an overflow of
/// TransferLength − EDTL; less is an underflow of EDTL − TransferLength (for data-in the underflow is
/// EDTL − DataInLength).
/// </param>
/// <param name="Sense">Fixed-format sense data (SPC-4 §4.5.3) when Status is CHECK CONDITION, else empty.</param>
public readonly record struct ScsiResult(byte Status, int DataInLength, long TransferLength, ReadOnlyMemory<byte> Sense)
{
    public static ScsiResult Good(int dataIn, long transferLength) => new(ScsiStatus.Good, dataIn, transferLength, default);
}

/// <summary>
/// A SCSI logical unit (SPC-4 / SBC-3 direct-access block device), pure: no sockets, no iSCSI.
/// Thread-safe: commands from many sessions may run at once.
/// </summary>
public interface IScsiLogicalUnit : IDisposable
{
    /// <summary>
    /// Bytes of data-out the transport must collect before <see cref="Execute"/> for this CDB (from the CDB's transfer
    /// length), so it can size buffers and R2Ts. The transport collects min(this, EDTL).
    /// </summary>
    long DataOutLength(ReadOnlySpan<byte> cdb);

    /// <summary>
    /// Executes a command. <paramref name="dataOut"/> holds the data the initiator sent (possibly shorter than the CDB
    /// asks when EDTL was smaller); <paramref name="dataIn"/> is a buffer of EDTL bytes (or the transport's cap) to fill.
    /// </summary>
    ScsiResult Execute(ReadOnlySpan<byte> cdb, ReadOnlySpan<byte> dataOut, Span<byte> dataIn, in ScsiCommandInfo info);

    /// <summary>Task management (RFC 7143 §11.5): LOGICAL UNIT RESET clears reservations per SPC and sets unit attentions.</summary>
    void Reset(in ScsiNexus nexus, bool targetReset);

    /// <summary>Called when an I_T nexus goes away (session closed), e.g. to drop its registrations' volatile state.</summary>
    void NexusLost(in ScsiNexus nexus);
}
