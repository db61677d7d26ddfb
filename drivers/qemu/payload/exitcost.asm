; SPDX-License-Identifier: MIT
; hypetrace's exit-cost payload: a 64 KiB firmware image (QEMU -bios) that runs in real mode, no OS,
; and performs VM exits of known kinds in marked phases, so the host can time each kind
; (the idea of kvm-unit-tests' vmexit tests, small enough to run where KVM can only emulate real
; mode, such as PVM).
;
; Parameters come from sector 0 of the first IDE disk (written by hypetrace):
;   0  "HTXC"   magic
;   4  dd N     operations per exit phase
;   8  dd S     sectors to read in the disk phase
;  12  dd H     HLTs in the hlt phase (0: no hlt phase)
; Phases: the payload writes the phase number to PHASE_PORT (one OUT, an exit the host sees in
; kvm:kvm_pio), then performs N operations of one kind:
;   1 pio-out   OUT to an unassigned port (KVM hands it to QEMU in userspace)
;   2 pio-in    IN from the same port
;   3 pio-kernel  IN from the PIC's mask register (emulated inside KVM when the irqchip is)
;   4 mmio      a byte written to 0xA0000, no device there (KVM_EXIT_MMIO to QEMU)
;   5 cpuid     CPUID leaf 0 (always exits on VT-x/AMD-V; handled inside KVM)
;   6 disk      S sectors read one at a time from the IDE disk by ATA PIO (command, status
;               polls, one string read per sector): exits attributed to the IDE controller
;   7 hlt       H HLTs, each woken by the PIT's next tick (10 kHz, IRQ0 through the PIC; the
;               handler acknowledges with an OUT to the PIC): HLT, interrupt injection, wake-up
;   0xFE done, then isa-debug-exit ends QEMU (exit status 1). On a bad parameter sector the
;   payload writes 0xEE as its phase and exits the same way.
bits 16
cpu 586

PHASE_PORT equ 0x0404
TARGET_PORT equ 0x0406
MMIO_SEG equ 0xA000            ; the VGA window: MMIO of QEMU's VGA device (vga-lowmem)
DEBUG_EXIT equ 0x00f4
PARAMS equ 0x8000               ; linear address of the sector buffer (segment 0)
HLTS equ 0x7F00                 ; H, kept here: the disk phase reads sectors over PARAMS

section .text
start:
        cli
        cld
        xor ax, ax
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov sp, 0x7000

        xor eax, eax
        call ata_read           ; sector 0: the parameters
        cmp dword [PARAMS], 'HTXC'
        jne bad_params
        mov ebp, [PARAMS + 4]   ; N
        mov esi, [PARAMS + 8]   ; S
        mov eax, [PARAMS + 12]  ; H
        mov [HLTS], eax

        mov al, 1               ; ---- pio-out
        call phase
        mov ecx, ebp
        mov dx, TARGET_PORT
.out:   out dx, al
        dec ecx
        jnz .out

        mov al, 2               ; ---- pio-in
        call phase
        mov ecx, ebp
        mov dx, TARGET_PORT
.in:    in al, dx
        dec ecx
        jnz .in

        mov al, 3               ; ---- pio-kernel
        call phase
        mov ecx, ebp
.pic:   in al, 0x21
        dec ecx
        jnz .pic

        mov al, 4               ; ---- mmio
        call phase
        push es
        mov ax, MMIO_SEG
        mov es, ax
        mov ecx, ebp
.mmio:  mov byte [es:0], cl
        dec ecx
        jnz .mmio
        pop es

        mov al, 5               ; ---- cpuid
        call phase
        mov edi, ebp
.cpuid: xor eax, eax
        cpuid
        dec edi
        jnz .cpuid

        mov al, 6               ; ---- disk
        call phase
        mov edi, 1              ; LBA 1 .. S
.disk:  cmp edi, esi
        ja .done
        mov eax, edi
        call ata_read
        inc edi
        jmp .disk

.done:  cmp dword [HLTS], 0
        je .end
        mov al, 7               ; ---- hlt
        call phase
        mov word [8 * 4], irq0  ; IVT entry of IRQ0 (vector 8 with the PIC's reset mapping)
        mov word [8 * 4 + 2], 0xF000
        mov ecx, 0x1B           ; IA32_APIC_BASE: turn the local APIC off, so the PIC's
        rdmsr                   ; interrupts reach the CPU directly (at reset the APIC's
        and eax, ~0x800         ; LINT0 is masked; a BIOS would program it)
        wrmsr
        mov al, 0x11            ; the PIC as a BIOS leaves it: ICW1..4, IRQ0-7 on vectors 8-15
        out 0x20, al
        mov al, 0x08
        out 0x21, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x01
        out 0x21, al
        mov al, 0x34            ; PIT channel 0, lobyte/hibyte, mode 2 (rate generator)
        out 0x43, al
        mov ax, 119             ; 1193182 Hz / 119: about 10 kHz
        out 0x40, al
        mov al, ah
        out 0x40, al
        mov al, 0xFE            ; unmask IRQ0 only
        out 0x21, al
        mov edi, [HLTS]
        sti
.hlt:   hlt
        dec edi
        jnz .hlt
        cli
        mov al, 0xFF            ; mask every IRQ again
        out 0x21, al
.end:   mov al, 0xFE
        call phase
        jmp quit

irq0:   push ax
        mov al, 0x20            ; EOI
        out 0x20, al
        pop ax
        iret

bad_params:
        mov al, 0xEE
        call phase
quit:   mov dx, DEBUG_EXIT
        xor al, al
        out dx, al
.hang:  hlt
        jmp .hang

; al = phase number
phase:  push dx
        mov dx, PHASE_PORT
        out dx, al
        pop dx
        ret

; Reads one sector (LBA in eax, LBA28) of the primary master into 0:PARAMS by ATA PIO.
ata_read:
        push eax
        push ecx
        push edx
        push edi
        mov ecx, eax
        mov dx, 0x1F7
.bsy:   in al, dx
        test al, 0x80
        jnz .bsy
        mov dx, 0x1F6
        mov eax, ecx
        shr eax, 24
        and al, 0x0F
        or al, 0xE0             ; LBA, master
        out dx, al
        mov dx, 0x1F2
        mov al, 1
        out dx, al
        mov eax, ecx
        mov dx, 0x1F3
        out dx, al
        shr eax, 8
        inc dx
        out dx, al
        shr eax, 8
        inc dx
        out dx, al
        mov dx, 0x1F7
        mov al, 0x20            ; READ SECTORS
        out dx, al
.drq:   in al, dx
        test al, 0x80
        jnz .drq
        test al, 0x01           ; ERR
        jnz bad_params
        test al, 0x08
        jz .drq
        mov dx, 0x1F0
        mov cx, 256
        mov di, PARAMS
        rep insw
        pop edi
        pop edx
        pop ecx
        pop eax
        ret

        times 0xFFF0 - ($ - $$) db 0
reset:  jmp 0xF000:start        ; the CPU starts at F000:FFF0
        times 0x10000 - ($ - $$) db 0
